"""One test's vendor: an OAuth server, a paginated CRM API and scripted routes.

Routes, under the vendor's base URL:

- ``POST /oauth/token``: refresh-token and client-credentials grants. Refresh
  tokens rotate and a used one is rejected with ``invalid_grant``, whose
  description echoes the token as some vendors do.
- ``GET /api/me``: validation. 401 for an unknown credential (the body echoes
  it), 403 with ``insufficient_scope`` for a key without the ``read`` scope.
- ``GET /api/account``: post-install data with an organisation id.
- ``GET /api/<style>/contacts``: the contacts, paginated in the style
  ``page``, ``offset``, ``cursor``, ``link``, ``range``, ``dynamic`` or
  ``loop`` (a cursor that never changes).
- ``POST /api/contacts``: creates a contact and echoes it.
- ``ANY /echo``: echoes the request, without authentication.
- Any route given to `script`: its replies in order, the last one repeating.

Every request is recorded in `requests`.
"""

from __future__ import annotations

import base64
import itertools
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode

import orjson
from starlette.requests import Request
from starlette.responses import Response

_MISSING: Any = object()


@dataclass
class Reply:
    """A canned HTTP response. `raw_headers` keep the exact case of their names."""

    status: int = 200
    json: Any = _MISSING
    text: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    raw_headers: list[tuple[str, str]] = field(default_factory=list)
    delay: float = 0.0

    def to_response(self) -> Response:
        """Build the Starlette response."""
        if self.json is not _MISSING:
            body = orjson.dumps(self.json)
            media_type = "application/json"
        else:
            body = (self.text or "").encode()
            media_type = "text/plain"
        response = Response(body, self.status, self.headers, media_type=media_type)
        for name, value in self.raw_headers:
            response.raw_headers.append(
                (name.encode("latin-1"), value.encode("latin-1"))
            )
        return response


@dataclass(frozen=True)
class RecordedRequest:
    """A request as the vendor received it; header names are lower-case."""

    method: str
    path: str
    headers: dict[str, str]
    query: list[tuple[str, str]]
    body: bytes
    # When the request arrived, on the `time.monotonic` clock.
    received_at: float = field(default_factory=time.monotonic)

    def json(self) -> Any:
        """The body parsed as JSON."""
        return orjson.loads(self.body)

    def form(self) -> dict[str, str]:
        """The body parsed as a form."""
        return dict(parse_qsl(self.body.decode(), keep_blank_values=True))

    @property
    def query_string(self) -> str:
        """The query string as sent, decoded."""
        return urlencode(self.query)


@dataclass
class OAuthServer:
    """The token endpoint's state and behaviour settings.

    `client_auth` is ``header``, ``body`` or ``either``; `body_format` is
    ``form``, ``json`` or ``either``. `token_fields` are added to every token
    response (None values are left out), so tests can vary ``expires_in`` and
    ``expires_at``. `failures` are returned, in order, before any real grant.
    """

    client_id: str = "client-abc"
    client_secret: str = "client-secret-xyz"
    client_auth: str = "either"
    body_format: str = "either"
    rotate: bool = True
    token_fields: dict[str, Any] = field(default_factory=lambda: {"expires_in": 3600})
    failures: list[Reply] = field(default_factory=list)
    # Seconds that every token response waits before it is sent, so that
    # tests can overlap concurrent refreshes.
    delay: float = 0.0
    valid_refresh_tokens: set[str] = field(default_factory=set)
    used_refresh_tokens: set[str] = field(default_factory=set)
    access_tokens: set[str] = field(default_factory=set)
    _counter: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def grant(self) -> tuple[str, str]:
        """Issue an access and refresh token pair, as an authorization would."""
        number = next(self._counter)
        access, refresh = f"access-{number}", f"refresh-{number}"
        self.access_tokens.add(access)
        self.valid_refresh_tokens.add(refresh)
        return access, refresh

    def token_reply(self, request: RecordedRequest) -> Reply:
        """Respond to one token request, after `delay` seconds."""
        reply = self._token_reply(request)
        reply.delay = max(reply.delay, self.delay)
        return reply

    def _token_reply(self, request: RecordedRequest) -> Reply:
        if self.failures:
            return self.failures.pop(0)
        params, problem = self._params(request)
        if problem:
            return problem
        client_problem = self._check_client(request, params)
        if client_problem:
            return client_problem
        grant_type = params.get("grant_type")
        if grant_type == "refresh_token":
            return self._refresh(params.get("refresh_token", ""))
        if grant_type == "client_credentials":
            return self._issue(rotate_from=None, scope=params.get("scope"))
        return _oauth_error(400, "unsupported_grant_type", f"grant {grant_type!r}")

    def _params(self, request: RecordedRequest) -> tuple[dict[str, str], Reply | None]:
        is_json = "json" in request.headers.get("content-type", "")
        expected_json = {"form": False, "json": True}.get(self.body_format, is_json)
        if is_json != expected_json:
            return {}, _oauth_error(400, "invalid_request", "unexpected body format")
        if is_json:
            return {k: str(v) for k, v in request.json().items()}, None
        return request.form(), None

    def _check_client(
        self, request: RecordedRequest, params: dict[str, str]
    ) -> Reply | None:
        header = request.headers.get("authorization", "")
        in_header = header.startswith("Basic ")
        if in_header and self.client_auth in ("header", "either"):
            expected = base64.b64encode(
                f"{self.client_id}:{self.client_secret}".encode()
            ).decode()
            if header == f"Basic {expected}":
                return None
        in_body = "client_id" in params
        body_pair = (params.get("client_id"), params.get("client_secret"))
        expected_pair = (self.client_id, self.client_secret)
        if (
            in_body
            and self.client_auth in ("body", "either")
            and body_pair == expected_pair
        ):
            return None
        return _oauth_error(401, "invalid_client", "client authentication failed")

    def _refresh(self, refresh_token: str) -> Reply:
        if refresh_token in self.used_refresh_tokens:
            return _oauth_error(
                400,
                "invalid_grant",
                f"refresh token {refresh_token} was already used",
            )
        if refresh_token not in self.valid_refresh_tokens:
            return _oauth_error(
                400, "invalid_grant", f"unknown refresh token {refresh_token}"
            )
        return self._issue(rotate_from=refresh_token, scope=None)

    def _issue(self, rotate_from: str | None, scope: str | None) -> Reply:
        access, refresh = self.grant()
        payload: dict[str, Any] = {"access_token": access, "token_type": "Bearer"}
        if rotate_from is not None and self.rotate:
            self.valid_refresh_tokens.discard(rotate_from)
            self.used_refresh_tokens.add(rotate_from)
            payload["refresh_token"] = refresh
        else:
            self.valid_refresh_tokens.discard(refresh)
        if scope:
            payload["scope"] = scope
        payload.update({k: v for k, v in self.token_fields.items() if v is not None})
        return Reply(200, json=payload)


def _oauth_error(status: int, code: str, description: str) -> Reply:
    return Reply(status, json={"error": code, "error_description": description})


@dataclass
class Vendor:
    """One test's vendor API. See the module docstring for its routes."""

    base_url: str
    other_origin: str
    oauth: OAuthServer = field(default_factory=OAuthServer)
    api_keys: dict[str, set[str]] = field(default_factory=dict)
    contacts: list[dict[str, Any]] = field(
        default_factory=lambda: [{"id": n, "name": f"Contact {n}"} for n in range(1, 8)]
    )
    page_size: int = 3
    link_style: str = "standard"
    org_id: str = "org_123"
    requests: list[RecordedRequest] = field(default_factory=list)
    # Requests being handled right now, and the most there have been at once.
    in_flight: int = 0
    max_in_flight: int = 0
    _scripts: dict[tuple[str, str], list[Reply]] = field(default_factory=dict)

    @property
    def namespace(self) -> str:
        """The path prefix that separates this vendor from the others."""
        return self.base_url.rsplit("/", 1)[1]

    def url(self, path: str) -> str:
        """The absolute URL of a route."""
        return self.base_url + path

    def script(self, path: str, *replies: Reply, method: str = "*") -> None:
        """Answer `method path` with `replies` in order; the last one repeats.

        The default method ``*`` matches any method.
        """
        self._scripts[(method.upper(), path)] = list(replies)

    def hits(self, path: str) -> list[RecordedRequest]:
        """The recorded requests to `path`."""
        return [request for request in self.requests if request.path == path]

    async def handle(self, request: Request, path: str) -> Reply:
        """Record `request` and return the response to send."""
        recorded = RecordedRequest(
            method=request.method,
            path=path,
            headers={k.lower(): v for k, v in request.headers.items()},
            query=list(request.query_params.multi_items()),
            body=await request.body(),
        )
        self.requests.append(recorded)
        return self._route(recorded)

    def _route(self, request: RecordedRequest) -> Reply:
        script = self._scripts.get((request.method, request.path)) or self._scripts.get(
            ("*", request.path)
        )
        if script:
            return script.pop(0) if len(script) > 1 else script[0]
        if request.path == "/echo":
            return self._echo(request)
        if request.path == "/oauth/token" and request.method == "POST":
            return self.oauth.token_reply(request)
        if request.path.startswith("/api/"):
            return self._api(request)
        return Reply(
            404, json={"error": "not_found", "message": f"no route {request.path}"}
        )

    def _echo(self, request: RecordedRequest) -> Reply:
        return Reply(
            200,
            json={
                "method": request.method,
                "headers": request.headers,
                "query": request.query,
                "body": request.body.decode(errors="replace"),
            },
        )

    # -- authenticated API ----------------------------------------------------

    def _api(self, request: RecordedRequest) -> Reply:
        credential, scopes = self._credential(request)
        if scopes is None:
            return Reply(
                401,
                json={
                    "error": "invalid_token",
                    "message": f"credential {credential} is invalid",
                },
            )
        route = request.path.removeprefix("/api")
        if route == "/me":
            if "read" not in scopes:
                return Reply(
                    403,
                    json={"error": "insufficient_scope", "message": "missing scope"},
                    headers={
                        "WWW-Authenticate": 'Bearer error="insufficient_scope", '
                        'scope="read contacts:read"'
                    },
                )
            return Reply(200, json={"id": "user_1", "email": "owner@vendor.test"})
        if route == "/account":
            return Reply(
                200, json={"data": {"id": self.org_id, "subscription": {"plan": "pro"}}}
            )
        if route == "/contacts" and request.method == "POST":
            return Reply(201, json={"data": {"id": 100, **request.json()}})
        style = route.removesuffix("/contacts").strip("/")
        if route.endswith("/contacts") and style in _PAGINATORS:
            return _PAGINATORS[style](self, request)
        return Reply(
            404, json={"error": "not_found", "message": f"no route {request.path}"}
        )

    def _credential(self, request: RecordedRequest) -> tuple[str, set[str] | None]:
        header = request.headers.get("authorization", "")
        scheme, _, value = header.partition(" ")
        if scheme == "Bearer" and value in self.oauth.access_tokens:
            return value, {"read"}
        if scheme == "Basic":
            decoded = base64.b64decode(value).decode(errors="replace")
            return decoded, self.api_keys.get(decoded)
        key = request.headers.get("x-api-key") or value
        return key, self.api_keys.get(key)

    # -- pagination styles ----------------------------------------------------

    def _query(self, request: RecordedRequest) -> dict[str, str]:
        return dict(request.query)

    def _slice(self, start: int, size: int) -> list[dict[str, Any]]:
        return self.contacts[start : start + size] if start >= 0 else []

    def _page(self, request: RecordedRequest) -> Reply:
        query = self._query(request)
        size = int(query.get("per_page", self.page_size))
        page = int(query.get("page", 1))
        return Reply(200, json={"data": self._slice((page - 1) * size, size)})

    def _offset(self, request: RecordedRequest) -> Reply:
        query = self._query(request)
        size = int(query.get("limit", self.page_size))
        return Reply(200, json={"data": self._slice(int(query.get("offset", 0)), size)})

    def _cursor(self, request: RecordedRequest) -> Reply:
        query = self._query(request)
        cursor = query.get("cursor") or request.headers.get("x-cursor") or "0"
        start = int(cursor.removeprefix("c"))
        size = int(query.get("limit", self.page_size))
        items = self._slice(start, size)
        following = start + size
        more = following < len(self.contacts)
        next_cursor: str | None = f"c{following}" if more else None
        if more and query.get("url_cursor"):
            params = urlencode({"cursor": next_cursor, "url_cursor": "1"})
            next_cursor = f"{self.url('/api/cursor/contacts')}?{params}"
        headers = (
            {"X-Next-Cursor": next_cursor}
            if more and query.get("header_cursor")
            else {}
        )
        body = {
            "results": items,
            "meta": {"next_cursor": next_cursor, "has_more": more},
        }
        return Reply(200, json=body, headers=headers)

    def _link(self, request: RecordedRequest) -> Reply:
        query = self._query(request)
        page = int(query.get("page", 1))
        size = self.page_size
        items = self._slice((page - 1) * size, size)
        last = max(1, -(-len(self.contacts) // size))
        reply = Reply(200, json=items)
        if page < last:
            name, value = self._link_header(page + 1, last)
            reply.raw_headers.append((name, value))
        return reply

    def _link_header(self, next_page: int, last: int) -> tuple[str, str]:
        path = f"/{self.namespace}/api/link/contacts"
        absolute = self.base_url.rsplit("/", 1)[0] + path
        other = self.other_origin.rsplit("/", 1)[0] + path
        styles = {
            "standard": (
                "Link",
                f'<{absolute}?page={next_page}>; rel="next", '
                f'<{absolute}?page={last}>; rel="last"',
            ),
            "rel_not_first": (
                "link",
                f'<{absolute}?page={last}>; rel="last", '
                f'<{absolute}?page={next_page}>; title="more, later"; rel="next"',
            ),
            "multiple_rels": (
                "LINK",
                f'<{absolute}?page={next_page}>; rel="next nofollow"',
            ),
            "relative": ("Link", f'<{path}?page={next_page}>; rel="next"'),
            "other_origin": ("Link", f'<{other}?page={next_page}>; rel="next"'),
        }
        return styles[self.link_style]

    def _range(self, request: RecordedRequest) -> Reply:
        header = request.headers.get("range", "items=0-2")
        unit, _, span = header.partition("=")
        first, _, last = span.partition("-")
        start, end = int(first), min(int(last), len(self.contacts) - 1)
        items = self.contacts[start : end + 1]
        headers = {"Content-Range": f"{unit} {start}-{end}/{len(self.contacts)}"}
        return Reply(206, json=items, headers=headers)

    def _dynamic(self, request: RecordedRequest) -> Reply:
        page = int(self._query(request).get("page", 1))
        items = self._slice((page - 1) * self.page_size, self.page_size)
        more = page * self.page_size < len(self.contacts)
        return Reply(
            200, json={"items": items, "next_page": page + 1 if more else None}
        )

    def _loop(self, request: RecordedRequest) -> Reply:
        return Reply(
            200, json={"results": self.contacts[:1], "meta": {"next_cursor": "same"}}
        )


_PAGINATORS = {
    "page": Vendor._page,
    "offset": Vendor._offset,
    "cursor": Vendor._cursor,
    "link": Vendor._link,
    "range": Vendor._range,
    "dynamic": Vendor._dynamic,
    "loop": Vendor._loop,
}
