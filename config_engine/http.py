"""Build upstream HTTP requests from a method config and send them.

A request is built in two steps. `build_request` (in
`config_engine.request_template`) renders the method config's placeholders
against the account's variables and returns a `PreparedRequest`,
a plain value that a dry run can print. `send` turns it into an httpx request,
follows redirects by hand and reads the response into an `UpstreamResponse`.

Placeholder values from the account are not trusted to shape the URL: a base
URL must stay an http(s) URL whose host is made of host characters, the
resource `id` is percent-encoded before it enters the path, and a rendered
path may not climb out of the base URL with ``..`` segments.
"""

from __future__ import annotations

import functools
import logging
import re
import time
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import httpx
import orjson

from config_engine.display import short_repr
from config_engine.errors import (
    ConfigError,
    PlaceholderError,
    UpstreamUnavailableError,
)
from config_engine.masking import mask_body, mask_headers, mask_pairs, mask_text
from config_engine.placeholders import render

logger = logging.getLogger("config_engine.http")


class _DropRequestLines(logging.Filter):
    """Drop httpx's ``HTTP Request: GET <url>`` lines.

    They print the full URL, query credentials included. `send` logs its own
    ``upstream_request`` line, with the host and path only.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("HTTP Request:")


# httpx (0.29 here) logs every response at INFO on the "httpx" logger. A filter on
# that logger receives those records before they propagate to any handler.
logging.getLogger("httpx").addFilter(_DropRequestLines())

QUERY_ARRAY_FORMATS = ("comma", "brackets", "indices", "repeat")
BODY_FORMATS = ("json", "form", "raw")
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
MAX_REDIRECTS = 5
# NOTE: Truto does not document its default array format; "repeat" is what
# most servers parse (and httpx's own default).
DEFAULT_QUERY_ARRAY_FORMAT = "repeat"

_AUTHORITY = re.compile(
    r"^(?:[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.?|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$"
)
# Headers kept on a redirect to another origin: none of them can carry a secret.
_CROSS_ORIGIN_SAFE_HEADERS = frozenset({"accept", "accept-language", "user-agent"})


@dataclass(frozen=True, slots=True)
class PreparedRequest:
    """An upstream request with every placeholder rendered.

    `secret_headers` contains the lower-case names of the headers that the
    authorization produced, and `secret_values` the credential values known
    for the account, so that `describe` can mask them. The engine passes a
    collection that reads the account context on first use.
    """

    method: str
    url: str
    query: tuple[tuple[str, str], ...] = ()
    headers: Mapping[str, str] = field(default_factory=dict)
    content: bytes | None = None
    secret_headers: frozenset[str] = frozenset()
    secret_values: Collection[str] = frozenset()

    @property
    def full_url(self) -> str:
        """The URL with the encoded query string appended."""
        if not self.query:
            return self.url
        separator = "&" if "?" in self.url else "?"
        return f"{self.url}{separator}{urlencode(self.query)}"

    @property
    def path(self) -> str:
        """The URL path, for logs and step records (never the query string)."""
        return urlsplit(self.url).path or "/"

    def describe(self) -> dict[str, Any]:
        """Return a JSON-ready description with every credential masked.

        The authorization headers, the values under secret-looking names (in
        headers, query, form and JSON bodies) and every known secret value
        are replaced by ``[redacted]``.
        """
        secrets = self.secret_values
        headers = mask_headers(self.headers, secrets, self.secret_headers)
        url = mask_text(self.url, secrets)
        query = mask_pairs(self.query, secrets)
        if query:
            separator = "&" if "?" in url else "?"
            url = f"{url}{separator}{urlencode(query)}"
        body: str | None = None
        if self.content is not None:
            content_type = next(
                (v for k, v in self.headers.items() if k.lower() == "content-type"), ""
            )
            body = mask_body(self.content, content_type, secrets)
        return {"method": self.method, "url": url, "headers": headers, "body": body}


class RequestDraft:
    """A request being assembled for one call, changed in place.

    The template renders it, pagination positions it and the authorization
    adds its headers. `finish` then makes the one `PreparedRequest` that is
    sent, so that no step copies the request. `query` contains encoded pairs.
    """

    __slots__ = ("content", "headers", "method", "query", "url")

    def __init__(
        self,
        method: str,
        url: str,
        query: list[tuple[str, str]],
        headers: dict[str, str],
        content: bytes | None = None,
    ) -> None:
        self.method = method
        self.url = url
        self.query = query
        self.headers = headers
        self.content = content

    @classmethod
    def from_request(cls, request: PreparedRequest) -> RequestDraft:
        """Start a draft from a copy of `request`'s parts."""
        return cls(
            request.method,
            request.url,
            list(request.query),
            dict(request.headers),
            request.content,
        )

    @property
    def full_url(self) -> str:
        """The URL with the encoded query string appended."""
        if not self.query:
            return self.url
        separator = "&" if "?" in self.url else "?"
        return f"{self.url}{separator}{urlencode(self.query)}"

    def set_query(self, updates: Mapping[str, Any]) -> None:
        """Replace the pairs named by `updates`, then append the new ones.

        A pair is replaced when its encoded name equals a key of `updates`.
        The new values are encoded with the default array format.
        """
        query = self.query
        if query:
            query = [pair for pair in query if pair[0] not in updates]
        for key, value in updates.items():
            _encode_value(str(key), value, DEFAULT_QUERY_ARRAY_FORMAT, query)
        self.query = query

    def finish(
        self,
        secret_headers: frozenset[str] = frozenset(),
        secret_values: Collection[str] = frozenset(),
    ) -> PreparedRequest:
        """Make the request from the draft.

        The request takes the draft's headers dict, so the draft must not be
        changed after this.
        """
        return PreparedRequest(
            self.method,
            self.url,
            tuple(self.query),
            self.headers,
            self.content,
            secret_headers,
            secret_values,
        )


@dataclass(frozen=True, slots=True)
class UpstreamResponse:
    """An upstream response, read in full and parsed.

    `headers` has lower-case names, as the JSONata expressions see them.
    `data` is the parsed JSON body, the text when the body is not JSON, or None
    when the body is empty.
    """

    status: int
    headers: Mapping[str, str]
    data: Any
    text: str
    url: str
    elapsed: float


def encode_query(
    query: Mapping[str, Any], array_format: str | None = None, *, path: str = ""
) -> list[tuple[str, str]]:
    """Flatten a query mapping into ordered key/value pairs.

    Lists follow `array_format`: ``comma`` (``ids=1,2``), ``brackets``
    (``ids[]=1&ids[]=2``), ``indices`` (``ids[0]=1&ids[1]=2``) or ``repeat``
    (``ids=1&ids=2``). Nested mappings become ``filter[name]=x``. None values are
    dropped; booleans become ``true``/``false``.
    """
    array_format = array_format or DEFAULT_QUERY_ARRAY_FORMAT
    if array_format not in QUERY_ARRAY_FORMATS:
        raise ConfigError(
            f"unknown query_array_format {array_format!r}; expected one of "
            f"{', '.join(QUERY_ARRAY_FORMATS)}",
            path,
        )
    pairs: list[tuple[str, str]] = []
    for key, value in query.items():
        _encode_value(str(key), value, array_format, pairs)
    return pairs


def _encode_value(
    key: str, value: Any, array_format: str, pairs: list[tuple[str, str]]
) -> None:
    if type(value) is str:
        pairs.append((key, value))
        return
    if value is None:
        return
    # Plain lists and numbers skip the Mapping check: isinstance against the
    # ABC takes about 190 ns, more than encoding a number this way (timeit,
    # CPython 3.11).
    value_type = type(value)
    if value_type is list:
        _encode_list(key, value, array_format, pairs)
        return
    if value_type is int or value_type is float:
        pairs.append((key, str(value)))
        return
    if isinstance(value, dict | Mapping):
        for sub_key, sub_value in value.items():
            _encode_value(f"{key}[{sub_key}]", sub_value, array_format, pairs)
        return
    if isinstance(value, list | tuple):
        _encode_list(key, value, array_format, pairs)
        return
    pairs.append((key, _scalar_text(value)))


def _encode_list(
    key: str, items: Sequence[Any], array_format: str, pairs: list[tuple[str, str]]
) -> None:
    present = [item for item in items if item is not None]
    if array_format == "comma":
        if present:
            pairs.append((key, ",".join(_scalar_text(item) for item in present)))
        return
    for index, item in enumerate(present):
        if array_format == "brackets":
            _encode_value(f"{key}[]", item, array_format, pairs)
        elif array_format == "indices":
            _encode_value(f"{key}[{index}]", item, array_format, pairs)
        else:
            _encode_value(key, item, array_format, pairs)


def _scalar_text(value: Any) -> str:
    value_type = type(value)
    if value_type is str:
        return value
    if value_type is int or value_type is float:
        return str(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Mapping | list | tuple):
        return orjson.dumps(value).decode()
    return str(value)


def encode_body(body: Any, body_format: str | None, *, path: str = "") -> bytes | None:
    """Serialise a request body as ``json`` (the default), ``form`` or ``raw``.

    A ``raw`` body must be a string or bytes; it is sent unchanged.
    """
    if body is None:
        return None
    body_format = body_format or "json"
    if body_format == "json":
        return orjson.dumps(body)
    if body_format == "form":
        if not isinstance(body, Mapping):
            raise ConfigError(
                f"a form body must be an object, received {type(body).__name__}",
                path,
            )
        return urlencode(encode_query(body, "brackets")).encode()
    if body_format == "raw":
        if isinstance(body, bytes):
            return body
        if isinstance(body, str):
            return body.encode()
        raise ConfigError(
            f"a raw body must be a string, received {type(body).__name__}; "
            "use body_format 'json' for objects",
            path,
        )
    raise ConfigError(
        f"unknown body_format {body_format!r}; "
        f"expected one of {', '.join(BODY_FORMATS)}",
        path,
    )


CONTENT_TYPES = {
    "json": "application/json",
    "form": "application/x-www-form-urlencoded",
}


def join_url(base_url: str, path: str) -> str:
    """Append `path` to `base_url` with exactly one slash between them."""
    if not path:
        return base_url
    return base_url.rstrip("/") + "/" + path.lstrip("/")


def check_base_url(url: str, *, path: str = "", template: str | None = None) -> str:
    """Return `url` when it is an absolute http(s) URL with a plain host.

    Placeholders from the account context can reach the host (``https://
    {{subdomain}}.vendor.com``). A value such as ``evil.test/#`` or
    ``user@evil.test`` would send the credentials elsewhere, so the rendered
    authority may hold only host characters and a port, and when `template`
    is given, what its placeholders rendered inside the authority may hold
    only host characters as well.
    """
    problem = _base_url_problem(url, template)
    if problem is not None:
        raise ConfigError(f"base URL {short_repr(url)} is invalid: {problem}", path)
    return url


@functools.lru_cache(maxsize=1024)
def _base_url_problem(url: str, template: str | None) -> str | None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        return "expected an absolute http:// or https:// URL"
    pattern = _template_authority(template) if template else None
    if not _AUTHORITY.match(parts.netloc) or (pattern and not pattern.match(url)):
        return (
            f"its host {parts.netloc!r} may contain only letters, digits, dots, "
            "hyphens and a port; check the placeholder values that build it"
        )
    return None


@functools.lru_cache(maxsize=256)
def _template_authority(template: str) -> re.Pattern[str] | None:
    """Build the pattern of URLs allowed by a template with a placeholder host."""
    match = re.match(r"^(https?)://([^/?#]*)", template)
    if not match or "{{" not in match.group(2):
        return None
    authority = match.group(2)
    if authority.count("{{") != authority.count("}}"):
        return None
    pieces = re.split(r"(\{\{.*?\}\})", authority)
    body = "".join(
        "[A-Za-z0-9.-]*" if piece.startswith("{{") else re.escape(piece)
        for piece in pieces
    )
    return re.compile(rf"^{match.group(1)}://{body}(?=[/?#]|$)")


def check_path(rendered: str, template: str, *, path: str = "") -> str:
    """Reject a rendered path that leaves the base URL.

    A path may be an absolute URL only when its template is one, and no segment
    may be ``..`` or ``.``.
    """
    problem = _path_problem(rendered, template)
    if problem is not None:
        raise ConfigError(problem, path)
    return rendered


@functools.lru_cache(maxsize=1024)
def _path_problem(rendered: str, template: str) -> str | None:
    if _is_absolute(rendered) and not _is_absolute(template):
        return (
            f"path {short_repr(rendered)} became an absolute URL through a "
            "placeholder; "
            "only a literal absolute path may leave the base URL"
        )
    target = urlsplit(rendered).path if _is_absolute(rendered) else rendered
    segments = target.split("?", 1)[0].split("/")
    if any(segment in ("..", ".") for segment in segments):
        return (
            f"path {short_repr(rendered)} contains a '..' or '.' segment; check the "
            "placeholder "
            "values that build it"
        )
    return None


def _is_absolute(url: str) -> bool:
    return url.startswith(("http://", "https://", "//"))


def same_origin(first: str, second: str) -> bool:
    """Return whether two absolute URLs share scheme, host and port."""
    a, b = httpx.URL(first), httpx.URL(second)
    return (a.scheme, a.host, a.port) == (b.scheme, b.host, b.port)


def render_optional(template: Any, variables: Mapping[str, Any], *, path: str) -> Any:
    """Render a template whose placeholders are optional, dropping what is missing.

    An object key or list item whose placeholders resolve to nothing (missing,
    null or empty) is left out, instead of going upstream as literal
    ``{{...}}`` text. An object with a ``$truto_merge`` key is rendered whole,
    so the merge applies. Broken placeholder syntax still raises ConfigError.
    """
    if isinstance(template, str):
        if "{{" not in template:
            return template
        return render(template, variables, required=True, path=path)
    if isinstance(template, dict | list):
        # One call for the usual case where every value is present; the walk
        # below only runs to find and drop what is missing.
        try:
            return render(template, variables, required=True, path=path)
        except PlaceholderError:
            pass
    if isinstance(template, dict | Mapping) and "$truto_merge" not in template:
        rendered: dict[str, Any] = {}
        for key, value in template.items():
            try:
                rendered[key] = render_optional(value, variables, path=f"{path}.{key}")
            except PlaceholderError:
                continue
        return rendered
    if isinstance(template, list):
        items = []
        for index, value in enumerate(template):
            try:
                items.append(render_optional(value, variables, path=f"{path}.{index}"))
            except PlaceholderError:
                continue
        return items
    return render(template, variables, path=path)


def render_headers(
    headers: Mapping[str, Any] | None, variables: Mapping[str, Any], *, path: str
) -> dict[str, str]:
    """Render header templates; a header whose value renders to nothing is dropped."""
    return _header_text(render_optional(dict(headers or {}), variables, path=path))


def _header_text(rendered: Mapping[str, Any]) -> dict[str, str]:
    headers: dict[str, str] = {}
    for name, value in rendered.items():
        if type(value) is str:
            if value:
                headers[name if type(name) is str else str(name)] = value
            continue
        if value is None or value == "":
            continue
        headers[str(name)] = _scalar_text(value)
    return headers


def merge_headers(*layers: Mapping[str, str]) -> dict[str, str]:
    """Merge header layers case-insensitively; a later layer wins."""
    merged: dict[str, str] = {}
    for layer in layers:
        if not layer:
            continue
        if merged:
            replaced = {name.lower() for name in layer}
            merged = {k: v for k, v in merged.items() if k.lower() not in replaced}
        merged.update(layer)
    return merged


def render_query(
    query: Mapping[str, Any] | None, variables: Mapping[str, Any], *, path: str
) -> dict[str, Any]:
    """Render query templates; values that render to nothing are dropped."""
    if not query:
        return {}
    rendered = render_optional(dict(query), variables, path=path)
    if not isinstance(rendered, Mapping):
        raise ConfigError("query must render to an object", path)
    return {key: value for key, value in rendered.items() if value is not None}


@dataclass(frozen=True, slots=True)
class SendOptions:
    """Limits of one upstream exchange."""

    timeout: float = 30.0
    max_response_bytes: int = 20 * 1024 * 1024


async def send(
    client: httpx.AsyncClient,
    request: PreparedRequest,
    options: SendOptions | None = None,
) -> UpstreamResponse:
    """Send `request` and read the whole response.

    Redirects are followed by hand, at most five: to the same origin with every
    header, to another origin with only headers that cannot carry a secret.
    Timeouts, connection failures and bodies over `max_response_bytes` raise
    UpstreamUnavailableError.
    """
    options = options or SendOptions()
    started = time.monotonic()
    current = request
    for _ in range(MAX_REDIRECTS + 1):
        response = await _exchange(client, current, options)
        location = response.headers.get("location")
        if response.status_code not in (301, 302, 303, 307, 308) or not location:
            return await _read(response, current, options, started)
        await response.aclose()
        current = _redirected(current, str(response.url.join(location)), response)
    raise UpstreamUnavailableError(
        f"{request.method} {request.path} was redirected more than "
        f"{MAX_REDIRECTS} times",
        status=response.status_code,
    )


async def _exchange(
    client: httpx.AsyncClient, request: PreparedRequest, options: SendOptions
) -> httpx.Response:
    httpx_request = client.build_request(
        request.method,
        request.url,
        params=list(request.query) or None,
        headers=dict(request.headers),
        content=request.content,
        timeout=options.timeout,
    )
    try:
        return await client.send(httpx_request, stream=True, follow_redirects=False)
    except httpx.TimeoutException as exc:
        raise UpstreamUnavailableError(
            f"{request.method} {request.path} timed out after {options.timeout:g} s",
            status=None,
        ) from exc
    except httpx.TransportError as exc:
        raise UpstreamUnavailableError(
            f"{request.method} {request.path} failed: {type(exc).__name__}",
            status=None,
        ) from exc


def _redirected(
    request: PreparedRequest, location: str, response: httpx.Response
) -> PreparedRequest:
    method, content = request.method, request.content
    if response.status_code == 303 or (
        response.status_code in (301, 302) and method == "POST"
    ):
        method, content = "GET", None
    headers = dict(request.headers)
    if not same_origin(request.url, location):
        headers = {
            k: v for k, v in headers.items() if k.lower() in _CROSS_ORIGIN_SAFE_HEADERS
        }
    if content is None:
        headers = {k: v for k, v in headers.items() if k.lower() != "content-type"}
    return PreparedRequest(
        method=method,
        url=location,
        headers=headers,
        content=content,
        secret_headers=request.secret_headers,
        secret_values=request.secret_values,
    )


async def _read(
    response: httpx.Response,
    request: PreparedRequest,
    options: SendOptions,
    started: float,
) -> UpstreamResponse:
    try:
        raw = await _read_capped(response, options.max_response_bytes, request)
    except httpx.TimeoutException as exc:
        raise UpstreamUnavailableError(
            f"{request.method} {request.path} timed out while reading the response",
            status=response.status_code,
        ) from exc
    except httpx.TransportError as exc:
        raise UpstreamUnavailableError(
            f"{request.method} {request.path} failed while reading the response: "
            f"{type(exc).__name__}",
            status=response.status_code,
        ) from exc
    finally:
        await response.aclose()
    headers = {name.lower(): value for name, value in response.headers.items()}
    text = raw.decode(response.encoding or "utf-8", errors="replace")
    elapsed = time.monotonic() - started
    logger.info(
        "upstream_request method=%s host=%s path=%s status=%d duration_ms=%.0f",
        request.method,
        response.url.host,
        response.url.path,
        response.status_code,
        elapsed * 1000,
    )
    return UpstreamResponse(
        status=response.status_code,
        headers=headers,
        data=parse_body(raw, text, headers.get("content-type", "")),
        text=text,
        url=str(response.url),
        elapsed=elapsed,
    )


async def _read_capped(
    response: httpx.Response, limit: int, request: PreparedRequest
) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > limit:
            raise UpstreamUnavailableError(
                f"{request.method} {request.path} responded with more than "
                f"{limit} bytes; the response was dropped",
                status=response.status_code,
            )
        chunks.append(chunk)
    return b"".join(chunks)


def parse_body(raw: bytes, text: str, content_type: str) -> Any:
    """Parse a body as JSON when it looks like JSON; otherwise return the text.

    Vendors mislabel JSON as text/plain or text/html often enough that the
    content type alone decides nothing: any body that starts like a JSON value
    is tried.
    """
    stripped = raw.strip()
    if not stripped:
        return None
    if "json" in content_type or stripped[:1] in (b"{", b"["):
        try:
            return orjson.loads(stripped)
        except orjson.JSONDecodeError:
            return text
    return text


def iter_header_items(headers: Mapping[str, str]) -> Iterable[tuple[str, str]]:
    """Yield header pairs with lower-case names."""
    for name, value in headers.items():
        yield name.lower(), value


def encode_path_value(value: Any) -> str:
    """Percent-encode one value for a single URL path segment."""
    return quote(_scalar_text(value), safe="")


def _render_base_url(template: Any, variables: Mapping[str, Any], *, path: str) -> str:
    base_url = str(render(template, variables, required=True, path=f"{path}.base_url"))
    return check_base_url(base_url, path=f"{path}.base_url", template=str(template))


def check_same_origin(url: str, base_url: str, *, path: str = "") -> None:
    """Reject an absolute-URL path whose origin differs from the base URL's.

    The authorization goes onto every request, so a path on another host
    would send the account's credentials there.
    """
    if not same_origin(url, base_url):
        raise ConfigError(
            f"path {short_repr(url)} is on another origin than the base URL "
            f"{short_repr(base_url)}; use a path on the base URL's host, or set the "
            "method's own base_url",
            path,
        )


def _render_body(
    method_config: Mapping[str, Any],
    variables: Mapping[str, Any],
    body: Any,
    headers: dict[str, str],
    path: str,
) -> tuple[bytes | None, dict[str, str]]:
    template = method_config.get("body")
    if template is not None:
        body = render_optional(template, variables, path=f"{path}.body")
    body_format = method_config.get("body_format") or "json"
    content = encode_body(body, body_format, path=f"{path}.body_format")
    content_type = CONTENT_TYPES.get(body_format)
    has_type = any(name.lower() == "content-type" for name in headers)
    if content is not None and content_type and not has_type:
        headers = {**headers, "Content-Type": content_type}
    return content, headers


def request_variables(
    context: Mapping[str, Any],
    *,
    environment_variables: Mapping[str, Any] | None = None,
    query: Mapping[str, Any] | None = None,
    body: Any = None,
    id: Any = None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Build the mapping that placeholders are rendered against.

    Context keys are at the top level (``{{api_key}}``) and under ``context``.
    ``credentials`` is the context's own ``credentials`` object when it has
    one, or else the context itself, so that Truto's documented
    ``{{credentials.api_key}}`` reads ``context.api_key``.
    """
    credentials = context.get("credentials")
    if not isinstance(credentials, Mapping):
        credentials = context
    variables: dict[str, Any] = {
        **context,
        "context": context,
        "credentials": credentials,
        "environment_variables": dict(environment_variables or {}),
        "query": dict(query or {}),
        "body": body if body is not None else {},
        "id": id,
    }
    if extra:
        variables.update(extra)
    return variables
