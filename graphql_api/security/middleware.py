"""ASGI middleware that bounds each request to the GraphQL endpoint.

For HTTP requests to the protected paths, in this order (WebSocket
connections get only the settings, and authenticate in ``connection_init``):

1. Rate limit per client: the bearer token's digest when the request has an
   ``Authorization`` header, the client address otherwise. Every response
   carries ``RateLimit-Limit``, ``RateLimit-Remaining`` and
   ``RateLimit-Reset`` (seconds). A request over the limit gets 429 with
   ``Retry-After`` and a JSON error body, before any other work.
2. Bounds on the request's JSON: the nesting depth of a JSON POST body or of
   the ``variables`` and ``extensions`` URL parameters, and the size of
   ``variables``. A body that is not JSON, is too large, or has another
   content type passes unchanged, because the endpoint rejects it with its
   own status code.
3. A time limit: a request still running after `request_timeout_seconds` is
   cancelled and gets 503, unless its response has already started.

Every scope also gets the security settings for `QueryLimits` (see
`graphql_api.security.limits`), and the lifespan start installs the log
redaction filter, after uvicorn has configured logging.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from typing import Any
from urllib.parse import parse_qsl

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from graphql_api.security.limits import set_security_settings
from graphql_api.security.logs import install_log_redaction
from graphql_api.security.rate_limit import RateDecision, RateLimiter
from graphql_api.security.settings import SecuritySettings

logger = logging.getLogger("graphql_api.security")

PROTECTED_PATHS = frozenset({"/graphql"})
# Bodies up to this size are read and checked. Larger ones reach the endpoint,
# which rejects anything over its own limit of 2 MiB with 413.
MAX_CHECKED_BODY_BYTES = 2 * 1024 * 1024


class RequestRejected(Exception):
    """Raised by a check to respond with an error before the endpoint runs."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}


class SecurityMiddleware:
    """Rate limits, JSON bounds and time limits for the GraphQL endpoint."""

    def __init__(self, app: ASGIApp, settings: SecuritySettings) -> None:
        self.app = app
        self.settings = settings
        self.limiter = RateLimiter(
            settings.rate_limit_requests, settings.rate_limit_window_seconds
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        set_security_settings(self.settings)
        if scope["type"] == "lifespan":
            install_log_redaction()
        if scope["type"] != "http" or scope["path"] not in PROTECTED_PATHS:
            await self.app(scope, receive, send)
            return
        decision = self._count(scope)
        send = _with_rate_headers(send, decision)
        try:
            if decision is not None and not decision.allowed:
                raise _rate_limited(decision)
            receive = await self._check_json(scope, receive)
        except RequestRejected as rejected:
            _log_rejected(scope, rejected)
            await _send_error(send, rejected)
            return
        await self._run_with_time_limit(scope, receive, send)

    def _count(self, scope: Scope) -> RateDecision | None:
        if self.settings.rate_limit_requests <= 0:
            return None
        return self.limiter.hit(_client_key(scope))

    async def _check_json(self, scope: Scope, receive: Receive) -> Receive:
        if scope["method"] == "GET":
            self._check_query_string(scope)
            return receive
        if scope["method"] != "POST" or not _is_json(scope):
            return receive
        chunks, complete = await _read_body(receive, MAX_CHECKED_BODY_BYTES)
        if complete:
            self._check_body(_body_of(chunks))
        return _replay(chunks, receive)

    def _check_body(self, body: bytes) -> None:
        try:
            document = orjson.loads(body)
        except orjson.JSONDecodeError:
            return
        self._check_depth(document, "the request body")
        if isinstance(document, dict):
            self._check_variables_size(document.get("variables"))

    def _check_query_string(self, scope: Scope) -> None:
        query = scope.get("query_string", b"").decode("latin-1")
        for name, text in parse_qsl(query):
            if name not in ("variables", "extensions"):
                continue
            try:
                value = orjson.loads(text)
            except orjson.JSONDecodeError:
                continue
            self._check_depth(value, f"the {name!r} URL parameter")
            if name == "variables":
                self._check_variables_size(value)

    def _check_depth(self, document: Any, where: str) -> None:
        limit = self.settings.max_json_depth
        depth = json_depth(document, limit)
        if depth > limit:
            raise RequestRejected(
                400,
                "BAD_REQUEST",
                f"JSON in {where} is nested more than {limit} levels deep: send "
                "flatter input.",
            )

    def _check_variables_size(self, variables: Any) -> None:
        if variables is None:
            return
        # orjson parsed the request, so it can serialize what it parsed.
        size = len(orjson.dumps(variables))
        limit = self.settings.max_variables_bytes
        if size > limit:
            raise RequestRejected(
                413,
                "BAD_REQUEST",
                f"The variables take {size} bytes as JSON, more than the maximum "
                f"of {limit}: send smaller variables.",
            )

    async def _run_with_time_limit(
        self, scope: Scope, receive: Receive, send: Send
    ) -> None:
        started = False

        async def tracked_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        seconds = self.settings.request_timeout_seconds
        try:
            async with asyncio.timeout(seconds):
                await self.app(scope, receive, tracked_send)
        except TimeoutError:
            rejected = RequestRejected(
                503,
                "REQUEST_TIMEOUT",
                f"The request did not finish within {seconds:g} s and was "
                "cancelled: ask for less, such as smaller pages, or retry later.",
            )
            _log_rejected(scope, rejected)
            if not started:
                await _send_error(send, rejected)


def json_depth(document: Any, limit: int) -> int:
    """Return the nesting depth of a JSON value, or `limit` + 1 once past it.

    A scalar has depth 0 and ``[]`` or ``{}`` depth 1. The walk uses a
    stack, so deep input cannot exhaust Python's recursion limit.
    """
    deepest = 0
    stack: list[tuple[Any, int]] = [(document, 0)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            children: Any = value.values()
        elif isinstance(value, list):
            children = value
        else:
            continue
        depth += 1
        if depth > limit:
            return depth
        deepest = max(deepest, depth)
        stack.extend((child, depth) for child in children)
    return deepest


def _client_key(scope: Scope) -> str:
    # NOTE: the key is the presented header, checked or not, so a client that
    # sends a new made-up token each time is never limited; each such request
    # costs one indexed lookup and gets 401.
    for name, value in scope.get("headers", ()):
        if name == b"authorization":
            digest = hashlib.sha256(value.strip()).hexdigest()
            return f"token:{digest}"
    client = scope.get("client")
    return f"address:{client[0] if client else 'unknown'}"


def _is_json(scope: Scope) -> bool:
    for name, value in scope.get("headers", ()):
        if name == b"content-type":
            media_type = value.split(b";", 1)[0].strip().lower()
            return bool(media_type == b"application/json")
    return False


async def _read_body(receive: Receive, max_bytes: int) -> tuple[list[Message], bool]:
    """Read body messages until the end or past `max_bytes`.

    Returns the messages read and whether they hold the whole body.
    """
    messages: list[Message] = []
    size = 0
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            return messages, False
        size += len(message.get("body", b""))
        if size > max_bytes:
            return messages, False
        if not message.get("more_body", False):
            return messages, True


def _body_of(messages: list[Message]) -> bytes:
    return b"".join(message.get("body", b"") for message in messages)


def _replay(messages: list[Message], receive: Receive) -> Receive:
    """Return a receive that gives `messages` again, then reads on."""
    pending = list(messages)

    async def replayed() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replayed


def _rate_limited(decision: RateDecision) -> RequestRejected:
    return RequestRejected(
        429,
        "RATE_LIMITED",
        f"Too many requests: the limit is {decision.limit} per window for this "
        f"API token. Retry after {decision.reset_seconds} s.",
        headers={"retry-after": str(decision.reset_seconds)},
    )


def _with_rate_headers(send: Send, decision: RateDecision | None) -> Send:
    if decision is None:
        return send

    async def send_with_headers(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = list(message.get("headers", []))
            headers += [
                (b"ratelimit-limit", str(decision.limit).encode()),
                (b"ratelimit-remaining", str(decision.remaining).encode()),
                (b"ratelimit-reset", str(decision.reset_seconds).encode()),
            ]
            message = {**message, "headers": headers}
        await send(message)

    return send_with_headers


async def _send_error(send: Send, rejected: RequestRejected) -> None:
    body = orjson.dumps(
        {
            "errors": [
                {"message": rejected.message, "extensions": {"code": rejected.code}}
            ]
        }
    )
    headers = [
        (b"content-type", b"application/json; charset=utf-8"),
        (b"content-length", str(len(body)).encode()),
        *((name.encode(), value.encode()) for name, value in rejected.headers.items()),
    ]
    await send(
        {"type": "http.response.start", "status": rejected.status, "headers": headers}
    )
    await send({"type": "http.response.body", "body": body})


def _log_rejected(scope: Scope, rejected: RequestRejected) -> None:
    request_id = scope.get("state", {}).get("request_id", "unknown")
    logger.info(
        "request_rejected request_id=%s status=%d code=%s",
        request_id,
        rejected.status,
        rejected.code,
    )
