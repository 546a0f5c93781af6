"""Per-client request counts in fixed windows, kept in this process's memory.

Each client gets `limit` requests per window of `window_seconds`, counted
from its first request in the window. The counts live in one process, so a
server with N worker processes allows up to N times the limit, and a
restart resets them.

The table contains at most `max_clients` clients. When it is full, windows that
have ended are dropped first, then the oldest ones, so a flood of new
clients cannot grow memory without bound.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

DEFAULT_MAX_CLIENTS = 100_000


@dataclass(frozen=True, slots=True)
class RateDecision:
    """The outcome of one request against its client's window."""

    allowed: bool
    limit: int
    remaining: int
    # Whole seconds until the window ends and the count starts again.
    reset_seconds: int


@dataclass(slots=True)
class _Window:
    started: float
    count: int


class RateLimiter:
    """Count requests per client key in fixed windows."""

    def __init__(
        self,
        limit: int,
        window_seconds: float,
        *,
        max_clients: int = DEFAULT_MAX_CLIENTS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit = limit
        self.window_seconds = window_seconds
        self._max_clients = max_clients
        self._clock = clock
        self._windows: OrderedDict[str, _Window] = OrderedDict()

    def hit(self, client: str) -> RateDecision:
        """Count one request of `client` and tell whether it may proceed.

        A rejected request is counted too, so a client that keeps retrying
        during the window stays rejected until the window ends.
        """
        now = self._clock()
        window = self._windows.get(client)
        if window is None or now - window.started >= self.window_seconds:
            window = self._start_window(client, now)
        window.count += 1
        reset = math.ceil(window.started + self.window_seconds - now)
        return RateDecision(
            allowed=window.count <= self.limit,
            limit=self.limit,
            remaining=max(self.limit - window.count, 0),
            reset_seconds=max(reset, 1),
        )

    def _start_window(self, client: str, now: float) -> _Window:
        self._windows.pop(client, None)
        if len(self._windows) >= self._max_clients:
            self._evict(now)
        window = _Window(started=now, count=0)
        self._windows[client] = window
        return window

    def _evict(self, now: float) -> None:
        # Windows are kept in start order, so ended ones come first.
        while self._windows:
            _client, oldest = next(iter(self._windows.items()))
            ended = now - oldest.started >= self.window_seconds
            if not ended and len(self._windows) < self._max_clients:
                return
            self._windows.popitem(last=False)
