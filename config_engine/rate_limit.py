"""Detect upstream rate limits, wait, and retry within bounds.

An integration's `rate_limit` block contains three JSONata expressions, each
seeing ``status``, ``headers`` (lower-case names), ``data`` and ``response``:

- ``is_rate_limited``: truthy when the response is a rate limit. Default:
  status 429. Only responses outside 2xx are checked, so a successful write is
  never sent twice, and a 400 that merely carries rate-limit headers is not a
  rate limit unless the expression returns true for it.
- ``retry_after_header_expression``: seconds to wait. Default: the
  ``Retry-After`` header, in seconds or as an HTTP date.
- ``rate_limit_header_expression``: when the limit resets, as epoch seconds
  or milliseconds. A result that is not a number is logged (at most once a
  minute per expression) and the standard reset headers are read instead.

The wait is the longer of the two. A wait longer than the policy's maximum is
not slept: the call fails at once with RateLimitedError carrying the wait, so
the caller can forward it. A broken expression falls back to the default and
logs a warning; it never fails the call.

5xx responses and read timeouts are retried with jittered exponential backoff
for idempotent methods only, because a POST that timed out may have been
applied. Connection failures are retried for every method: nothing was sent.
A `Retrier` with a `deadline` does not start a wait that would end after it,
and fails with the last error instead.
"""

from __future__ import annotations

import email.utils
import logging
import math
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from config_engine import jsonata
from config_engine.errors import (
    JsonataError,
    RateLimitedError,
    UpstreamUnavailableError,
)
from config_engine.http import IDEMPOTENT_METHODS, UpstreamResponse
from config_engine.responses import expression_bindings

logger = logging.getLogger("config_engine.rate_limit")

Sleep = Callable[[float], Awaitable[None]]
Clock = Callable[[], float]
OnWait = Callable[["RetryWait"], None]

# Epoch values above this are milliseconds (1e11 s is the year 5138).
_MILLISECONDS_THRESHOLD = 1e11
# Reset values below this are a delay in seconds, not an epoch (1e9 s is 2001).
_DELAY_THRESHOLD = 1e9
_LIMIT_HEADERS = ("x-ratelimit-limit", "x-rate-limit-limit", "ratelimit-limit")
_REMAINING_HEADERS = (
    "x-ratelimit-remaining",
    "x-rate-limit-remaining",
    "ratelimit-remaining",
)
_RESET_HEADERS = ("x-ratelimit-reset", "x-rate-limit-reset", "ratelimit-reset")
_CONNECT_FAILURES = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
# A warning about one expression repeats at most once per interval, in seconds.
_WARNING_INTERVAL = 60.0
# When each expression, by path and text, was last warned about, on the
# time.monotonic clock.
_LAST_NAN_WARNING: dict[tuple[str, str], float] = {}


@dataclass(frozen=True, slots=True)
class RateLimitInfo:
    """The upstream's rate-limit state, for callers to forward.

    `reset` is an epoch time in seconds. Each field is None when the upstream
    sent no value for it.
    """

    limit: int | None = None
    remaining: int | None = None
    reset: float | None = None


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Bounds on retrying one request. Times are in seconds."""

    max_retries: int = 3
    max_wait: float = 60.0
    backoff_base: float = 0.5
    backoff_max: float = 8.0


@dataclass(frozen=True, slots=True)
class RetryWait:
    """One wait before a retry: why, how long, after which attempt."""

    attempt: int
    seconds: float
    reason: str
    status: int | None


@dataclass(frozen=True, slots=True)
class RateLimitRules:
    """The `rate_limit` block of a config, with its JSON path for warnings."""

    is_rate_limited: str | None = None
    retry_after_header_expression: str | None = None
    rate_limit_header_expression: str | None = None
    path: str = "rate_limit"
    timeout: float | None = None

    @classmethod
    def from_config(
        cls, block: Mapping[str, Any] | None, *, path: str, timeout: float | None
    ) -> RateLimitRules:
        """Read a `rate_limit` block; a missing block gives the defaults."""
        block = block or {}
        return cls(
            is_rate_limited=block.get("is_rate_limited"),
            retry_after_header_expression=block.get("retry_after_header_expression"),
            rate_limit_header_expression=block.get("rate_limit_header_expression"),
            path=path,
            timeout=timeout,
        )

    def is_limited(self, response: UpstreamResponse) -> bool:
        """Return whether `response` is a rate limit (never for a 2xx)."""
        if 200 <= response.status < 300:
            return False
        default = response.status == 429
        if not self.is_rate_limited:
            return default
        result = self._evaluate(self.is_rate_limited, "is_rate_limited", response)
        return default if result is _FAILED else bool(result)

    def wait_seconds(self, response: UpstreamResponse, now: float) -> float | None:
        """Seconds to wait before retrying, or None when the upstream gave no hint."""
        retry_after = self._retry_after(response, now)
        reset = self._reset(response, now)
        waits = [
            value
            for value in (retry_after, reset - now if reset else None)
            if value is not None
        ]
        return max(0.0, *waits) if waits else None

    def info(self, response: UpstreamResponse, now: float) -> RateLimitInfo:
        """Return the rate-limit state that `response` reports."""
        return RateLimitInfo(
            limit=_first_int(response.headers, _LIMIT_HEADERS),
            remaining=_first_int(response.headers, _REMAINING_HEADERS),
            reset=self._reset(response, now),
        )

    def _retry_after(self, response: UpstreamResponse, now: float) -> float | None:
        if self.retry_after_header_expression:
            result = self._evaluate(
                self.retry_after_header_expression,
                "retry_after_header_expression",
                response,
            )
            if result is not _FAILED:
                return _as_float(result)
        return parse_retry_after(response.headers.get("retry-after"), now)

    def _reset(self, response: UpstreamResponse, now: float) -> float | None:
        if self.rate_limit_header_expression:
            result = self._evaluate(
                self.rate_limit_header_expression,
                "rate_limit_header_expression",
                response,
            )
            if result is not _FAILED:
                reset = _as_float(result)
                if reset is not None:
                    return to_epoch_seconds(reset, now)
                self._warn_not_a_number("rate_limit_header_expression", result)
        for name in _RESET_HEADERS:
            value = _as_float(response.headers.get(name))
            if value is not None:
                return to_epoch_seconds(value, now)
        return None

    def _warn_not_a_number(self, key: str, result: Any) -> None:
        # The result may echo a header, so only its type is logged.
        where = f"{self.path}.{key}"
        expression = getattr(self, key)
        now = time.monotonic()
        last = _LAST_NAN_WARNING.get((where, expression), -math.inf)
        if now - last < _WARNING_INTERVAL:
            return
        _LAST_NAN_WARNING[(where, expression)] = now
        logger.warning(
            "rate_limit_expression_not_a_number path=%s result_type=%s "
            "fallback=reset_headers",
            where,
            type(result).__name__,
        )

    def _evaluate(self, expression: str, key: str, response: UpstreamResponse) -> Any:
        bindings = expression_bindings(response)
        try:
            return jsonata.evaluate(
                expression, bindings, bindings, timeout=self.timeout
            )
        except JsonataError as exc:
            logger.warning(
                "rate_limit_expression_failed path=%s.%s jsonata_code=%s status=%d",
                self.path,
                key,
                exc.jsonata_code,
                response.status,
            )
            return _FAILED


_FAILED = object()


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Parse a Retry-After value, in seconds or as an HTTP date, into seconds."""
    if value is None or not value.strip():
        return None
    seconds = _as_float(value)
    if seconds is not None:
        return max(0.0, seconds)
    try:
        moment = email.utils.parsedate_to_datetime(value.strip())
    except (TypeError, ValueError):
        return None
    return max(0.0, moment.timestamp() - now)


def to_epoch_seconds(value: float | None, now: float) -> float | None:
    """Read a reset time given as epoch seconds, epoch milliseconds or a delay."""
    if value is None:
        return None
    if value >= _MILLISECONDS_THRESHOLD:
        return value / 1000.0
    if value < _DELAY_THRESHOLD:
        return now + max(0.0, value)
    return value


def _as_float(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None


def _first_int(headers: Mapping[str, str], names: tuple[str, ...]) -> int | None:
    for name in names:
        value = _as_float(headers.get(name))
        if value is not None:
            return int(value)
    return None


@dataclass
class Retrier:
    """Sends one request with the rate-limit and backoff rules applied.

    `sleep`, `clock` and `rng` are injectable so that tests neither sleep for
    long nor depend on chance. Every wait is logged, kept in `waits` and passed
    to `on_wait`. `deadline` is a `time.monotonic` time after which no retry
    starts, or None for no deadline.
    """

    rules: RateLimitRules
    policy: RetryPolicy
    sleep: Sleep
    clock: Clock
    rng: random.Random = field(default_factory=random.Random)
    on_wait: OnWait | None = None
    waits: list[RetryWait] = field(default_factory=list)
    deadline: float | None = None

    def time_left(self) -> float:
        """Return the seconds left before the deadline (infinite without one)."""
        if self.deadline is None:
            return math.inf
        return self.deadline - time.monotonic()

    async def send(
        self, method: str, send_once: Callable[[], Awaitable[UpstreamResponse]]
    ) -> UpstreamResponse:
        """Call `send_once` until it returns a response that needs no retry."""
        attempt = 0
        while True:
            attempt += 1
            retries_left = attempt <= self.policy.max_retries
            try:
                response = await send_once()
            except UpstreamUnavailableError as exc:
                backoff = self._backoff(attempt)
                if not (retries_left and _may_retry_failure(method, exc)):
                    raise
                if not self._fits_deadline(backoff, method):
                    raise
                await self._wait(attempt, backoff, _failure_reason(exc), None)
                continue
            if self.rules.is_limited(response):
                await self._wait_for_limit(attempt, response, retries_left)
                continue
            if response.status >= 500 and retries_left and method in IDEMPOTENT_METHODS:
                backoff = self._backoff(attempt)
                if self._fits_deadline(backoff, method):
                    await self._wait(attempt, backoff, "server_error", response.status)
                    continue
            return response

    def _fits_deadline(self, seconds: float, method: str) -> bool:
        if seconds < self.time_left():
            return True
        logger.warning(
            "upstream_deadline_reached method=%s attempts=%d",
            method,
            len(self.waits) + 1,
        )
        return False

    async def _wait_for_limit(
        self, attempt: int, response: UpstreamResponse, retries_left: bool
    ) -> None:
        now = self.clock()
        hinted = self.rules.wait_seconds(response, now)
        seconds = hinted if hinted is not None else self._backoff(attempt)
        past_deadline = seconds >= self.time_left()
        if not retries_left or seconds > self.policy.max_wait or past_deadline:
            info = self.rules.info(response, now)
            if not retries_left:
                reason = f"{self.policy.max_retries} retries were used up"
            elif seconds > self.policy.max_wait:
                reason = (
                    f"the wait of {seconds:.1f} s exceeds the maximum of "
                    f"{self.policy.max_wait:g} s"
                )
            else:
                reason = f"the wait of {seconds:.1f} s would pass the call's deadline"
            raise RateLimitedError(
                f"upstream rate limit hit (status {response.status}); {reason}; "
                f"retry after {seconds:.1f} s",
                status=response.status,
                retry_after=seconds,
                limit=info.limit,
                remaining=info.remaining,
                reset=info.reset,
            )
        await self._wait(attempt, seconds, "rate_limited", response.status)

    def _backoff(self, attempt: int) -> float:
        ceiling = min(
            self.policy.backoff_max, self.policy.backoff_base * 2 ** (attempt - 1)
        )
        return self.rng.uniform(ceiling / 2, ceiling)

    async def _wait(
        self, attempt: int, seconds: float, reason: str, status: int | None
    ) -> None:
        wait = RetryWait(attempt=attempt, seconds=seconds, reason=reason, status=status)
        self.waits.append(wait)
        logger.info(
            "upstream_retry_wait reason=%s attempt=%d seconds=%.2f status=%s",
            reason,
            attempt,
            seconds,
            status,
        )
        if self.on_wait is not None:
            self.on_wait(wait)
        await self.sleep(seconds)


def _failure_reason(error: UpstreamUnavailableError) -> str:
    if isinstance(error.__cause__, httpx.TimeoutException):
        return "timeout"
    return "connection_error"


def _may_retry_failure(method: str, error: UpstreamUnavailableError) -> bool:
    if isinstance(error.__cause__, _CONNECT_FAILURES):
        return True
    return error.status is None and method in IDEMPOTENT_METHODS
