"""Pagination: apply a page position to a request and find the next one.

Formats and their `config` keys:

- ``page``: ``page_param`` (default ``page``), ``start_page`` (default 1).
- ``offset``: ``offset_param`` (default ``offset``), ``start_offset`` (0);
  the next offset adds the number of records received.
- ``cursor``: the next cursor comes from ``cursor_path`` in the body or from
  the ``cursor_header`` response header, and goes out as ``cursor_param``
  (default ``cursor``) in the ``cursor_location`` ``query`` (default),
  ``body`` or ``header``. A cursor that is an absolute URL is fetched as is,
  and one that is an absolute path (``/services/data/v59.0/query/01g-2000``)
  is fetched on the request's origin.
- ``link_header``: follows the RFC 8288 ``Link`` header's ``rel`` (default
  ``next``), resolving relative URLs against the current one.
- ``range``: sends ``Range: <range_unit>=<start>-<end>`` (unit default
  ``items``) and reads ``Content-Range`` for the next start.
- ``dynamic``: JSONata expressions ``get_initial_pagination_values_expression``,
  ``get_pagination_values_expression`` (null ends the loop) and
  ``get_cursor_from_response_expression``; the values are sent as query
  parameters.

All formats accept ``limit`` with ``limit_param`` (the page size to send),
``has_next_path`` (a body path whose falsy value ends the loop) and
``max_pages``. Pagination stops on an empty page, on a page or cursor seen
before, on a page whose records equal the previous page's (an upstream that
ignores the page parameter), and at the page cap, so no loop runs forever.

The cursor handed to the caller is opaque: base64url JSON holding the format,
the position, the pages fetched so far and fingerprints of recent positions.
A cursor that carries a URL is followed only on the request's own origin.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx
import orjson

from config_engine import jsonata
from config_engine.display import short_repr
from config_engine.errors import ConfigError, InvalidCursorError, JsonataError
from config_engine.http import (
    PreparedRequest,
    RequestDraft,
    UpstreamResponse,
    same_origin,
)
from config_engine.responses import lookup_path

logger = logging.getLogger("config_engine.pagination")

FORMATS = ("page", "offset", "cursor", "link_header", "range", "dynamic")
CURSOR_LOCATIONS = ("query", "body", "header")
_CURSOR_VERSION = 1
_HISTORY_LENGTH = 8
_CONTENT_RANGE = re.compile(r"^\s*[\w-]+\s+(\d+)-(\d+)/(\d+|\*)\s*$")


@dataclass(frozen=True, slots=True)
class PageState:
    """The starting point of the next request.

    `position` is the format's own value (page number, offset, cursor, URL,
    range start or dynamic values). `pages` counts the pages fetched before
    this one; `history` contains fingerprints of recent positions.
    `records_digest` is the digest of the previous page's records, or None
    on the first page.
    """

    format: str
    position: Mapping[str, Any]
    pages: int = 0
    history: tuple[str, ...] = ()
    records_digest: str | None = None


@dataclass(frozen=True, slots=True)
class NextPage:
    """The outcome of one page: the next state, or why there is none.

    `reason` is ``more``, ``end``, ``empty_page``, ``repeated`` or ``page_cap``.
    """

    state: PageState | None
    reason: str


class Pagination:
    """The pagination of one resource method."""

    def __init__(
        self,
        block: Mapping[str, Any] | None,
        *,
        path: str,
        max_pages: int,
        expression_timeout: float | None = None,
    ) -> None:
        self.path = path
        self.format: str | None = None
        self.config: Mapping[str, Any] = {}
        self.expression_timeout = expression_timeout
        if block:
            self._read_block(block)
        configured_cap = self.config.get("max_pages")
        self.max_pages = max_pages
        if isinstance(configured_cap, int) and configured_cap > 0:
            self.max_pages = min(max_pages, configured_cap)

    def _read_block(self, block: Mapping[str, Any]) -> None:
        fmt = block.get("format")
        if fmt not in FORMATS:
            raise ConfigError(
                f"unknown pagination format {fmt!r}; "
                f"expected one of {', '.join(FORMATS)}",
                f"{self.path}.format",
            )
        config = block.get("config") or {}
        if not isinstance(config, Mapping):
            raise ConfigError(
                "pagination config must be an object", f"{self.path}.config"
            )
        self.format, self.config = fmt, config
        if fmt == "cursor" and not (
            config.get("cursor_path") or config.get("cursor_header")
        ):
            raise ConfigError(
                "cursor pagination needs cursor_path (a body path) or cursor_header",
                f"{self.path}.config.cursor_path",
            )
        location = config.get("cursor_location", "query")
        if location not in CURSOR_LOCATIONS:
            raise ConfigError(
                f"unknown cursor_location {location!r}; expected one of "
                f"{', '.join(CURSOR_LOCATIONS)}",
                f"{self.path}.config.cursor_location",
            )

    @property
    def enabled(self) -> bool:
        """Whether the method paginates at all."""
        return self.format is not None

    # -- start -------------------------------------------------------------

    def start(
        self,
        cursor: str | None,
        request: PreparedRequest | RequestDraft,
        query: Mapping[str, Any],
    ) -> PageState | None:
        """Return the state of the page to fetch: from `cursor`, or the first page."""
        if self.format is None:
            if cursor:
                raise InvalidCursorError(
                    "this method does not paginate, so it takes no cursor"
                )
            return None
        if cursor:
            return self._decode(cursor)
        return PageState(self.format, self._first_position(request, query))

    def _first_position(
        self, request: PreparedRequest | RequestDraft, query: Mapping[str, Any]
    ) -> dict[str, Any]:
        if self.format == "page":
            return {"page": _int_setting(self.config, "start_page", 1, self.path)}
        if self.format == "offset":
            return {"offset": _int_setting(self.config, "start_offset", 0, self.path)}
        if self.format == "range":
            return {"start": 0}
        if self.format == "dynamic":
            return {
                "values": self._initial_values(request, query),
                "query": dict(query),
            }
        return {}

    def _initial_values(
        self, request: PreparedRequest | RequestDraft, query: Mapping[str, Any]
    ) -> dict[str, Any]:
        expression = self.config.get("get_initial_pagination_values_expression")
        if not expression:
            return {}
        data = {"query": dict(query), **_request_scope(request)}
        values = self._evaluate(
            expression, data, "get_initial_pagination_values_expression"
        )
        if values is None:
            return {}
        if not isinstance(values, Mapping):
            raise ConfigError(
                f"expected an object of pagination values, received "
                f"{short_repr(values)}",
                f"{self.path}.config.get_initial_pagination_values_expression",
            )
        return dict(values)

    # -- apply -------------------------------------------------------------

    def apply(
        self, request: PreparedRequest, state: PageState | None
    ) -> PreparedRequest:
        """Return `request` positioned at `state` (unchanged without pagination)."""
        if state is None:
            return request
        draft = RequestDraft.from_request(request)
        self.apply_to(draft, state)
        return draft.finish(request.secret_headers, request.secret_values)

    def apply_to(self, draft: RequestDraft, state: PageState | None) -> None:
        """Position `draft` at `state` in place, as `apply` positions a request."""
        if state is None:
            return
        self._apply_limit(draft)
        position = state.position
        if "url" in position:
            _follow_url(draft, str(position["url"]))
        elif state.format == "page":
            draft.set_query({self._param("page_param", "page"): position["page"]})
        elif state.format == "offset":
            param = self._param("offset_param", "offset")
            draft.set_query({param: position["offset"]})
        elif state.format == "cursor" and "cursor" in position:
            self._apply_cursor(draft, position["cursor"])
        elif state.format == "range":
            self._apply_range(draft, int(position["start"]))
        elif state.format == "dynamic":
            draft.set_query(dict(position.get("values") or {}))

    def _apply_limit(self, draft: RequestDraft) -> None:
        limit_param, limit = self.config.get("limit_param"), self.config.get("limit")
        if limit_param and limit is not None and self.format != "range":
            draft.set_query({str(limit_param): limit})

    def _apply_cursor(self, draft: RequestDraft, cursor: Any) -> None:
        param = self._param("cursor_param", "cursor")
        location = self.config.get("cursor_location", "query")
        if location == "header":
            draft.headers[param] = str(cursor)
        elif location == "body":
            body = orjson.loads(draft.content) if draft.content else {}
            if not isinstance(body, dict):
                raise ConfigError(
                    "cursor_location 'body' needs a JSON object body",
                    f"{self.path}.config.cursor_location",
                )
            body[param] = cursor
            draft.content = orjson.dumps(body)
        else:
            draft.set_query({param: cursor})

    def _apply_range(self, draft: RequestDraft, start: int) -> None:
        size = _int_setting(self.config, "limit", 100, self.path)
        unit = str(self.config.get("range_unit") or "items")
        draft.headers["Range"] = f"{unit}={start}-{start + size - 1}"

    def _param(self, key: str, default: str) -> str:
        return str(self.config.get(key) or default)

    # -- advance -----------------------------------------------------------

    def advance(
        self,
        state: PageState | None,
        request: PreparedRequest,
        response: UpstreamResponse,
        records: list[Any],
    ) -> NextPage:
        """Work out the next page after `response`, or why the loop ends."""
        if state is None:
            return NextPage(None, "end")
        if not records:
            return NextPage(None, "empty_page")
        digest = _records_digest(records)
        if digest == state.records_digest:
            # An upstream that ignores the page parameter returns the same
            # records each time, with a new position that looks like progress.
            logger.warning(
                "pagination_repeated_page path=%s format=%s pages=%d",
                self.path,
                state.format,
                state.pages + 1,
            )
            return NextPage(None, "repeated")
        has_next_path = self.config.get("has_next_path")
        if has_next_path and not lookup_path(response.data, str(has_next_path)):
            return NextPage(None, "end")
        position = self._next_position(state, request, response, records)
        if position is None:
            return NextPage(None, "end")
        return self._checked(state, position, digest)

    def _checked(
        self, state: PageState, position: dict[str, Any], digest: str
    ) -> NextPage:
        fingerprint = _fingerprint(position)
        seen = (*state.history, _fingerprint(state.position))
        if fingerprint in seen:
            logger.warning(
                "pagination_repeated_position path=%s format=%s pages=%d",
                self.path,
                state.format,
                state.pages + 1,
            )
            return NextPage(None, "repeated")
        if state.pages + 1 >= self.max_pages:
            logger.warning(
                "pagination_page_cap path=%s format=%s max_pages=%d",
                self.path,
                state.format,
                self.max_pages,
            )
            return NextPage(None, "page_cap")
        history = seen[-_HISTORY_LENGTH:]
        return NextPage(
            PageState(state.format, position, state.pages + 1, history, digest),
            "more",
        )

    def _next_position(
        self,
        state: PageState,
        request: PreparedRequest,
        response: UpstreamResponse,
        records: list[Any],
    ) -> dict[str, Any] | None:
        position = state.position
        if state.format in ("page", "offset") and self._short_page(records):
            return None
        if state.format == "page":
            return {"page": int(position["page"]) + 1}
        if state.format == "offset":
            return {"offset": int(position["offset"]) + len(records)}
        if state.format == "cursor":
            return self._next_cursor(request, response)
        if state.format == "link_header":
            return self._next_link(response)
        if state.format == "range":
            return self._next_range(response)
        return self._next_dynamic(state, request, response)

    def _short_page(self, records: list[Any]) -> bool:
        limit = self.config.get("limit")
        return isinstance(limit, int) and 0 < len(records) < limit

    def _next_cursor(
        self, request: PreparedRequest, response: UpstreamResponse
    ) -> dict[str, Any] | None:
        header = self.config.get("cursor_header")
        if header:
            value: Any = response.headers.get(str(header).lower())
        else:
            value = lookup_path(response.data, str(self.config.get("cursor_path")))
        if value is None or value == "" or value is False:
            return None
        if isinstance(value, str) and value.startswith(("http://", "https://")):
            return {"url": value}
        if isinstance(value, str) and value.startswith("/") and value[1:2] != "/":
            # Salesforce's nextRecordsUrl is a path on the instance's origin.
            return {"url": httpx_url_join(request.url, value)}
        return {"cursor": value}

    def _next_link(self, response: UpstreamResponse) -> dict[str, Any] | None:
        rel = str(self.config.get("rel") or "next")
        target = find_link(response.headers.get("link", ""), rel)
        if target is None:
            return None
        return {"url": str(httpx_url_join(response.url, target))}

    def _next_range(self, response: UpstreamResponse) -> dict[str, Any] | None:
        match = _CONTENT_RANGE.match(response.headers.get("content-range", ""))
        if not match:
            return None
        end, total = int(match.group(2)), match.group(3)
        if total != "*" and end + 1 >= int(total):
            return None
        return {"start": end + 1}

    def _next_dynamic(
        self, state: PageState, request: PreparedRequest, response: UpstreamResponse
    ) -> dict[str, Any] | None:
        values = state.position.get("values") or {}
        data = {
            "query": state.position.get("query") or {},
            **_request_scope(request),
            "response": {"status": response.status, "headers": dict(response.headers)},
            "body": response.data,
            "paginationValues": values,
        }
        next_values = self._next_values(data)
        if next_values is None:
            return None
        cursor_expression = self.config.get("get_cursor_from_response_expression")
        cursor = None
        if cursor_expression:
            cursor = self._evaluate(
                cursor_expression, data, "get_cursor_from_response_expression"
            )
            if cursor is None:
                return None
        return {"values": next_values, "query": data["query"], "cursor": cursor}

    def _next_values(self, data: Mapping[str, Any]) -> dict[str, Any] | None:
        expression = self.config.get("get_pagination_values_expression")
        if not expression:
            return None
        values = self._evaluate(expression, data, "get_pagination_values_expression")
        if values is None:
            return None
        if not isinstance(values, Mapping):
            raise ConfigError(
                f"expected an object of pagination values or null, received "
                f"{short_repr(values)}",
                f"{self.path}.config.get_pagination_values_expression",
            )
        return dict(values)

    def _evaluate(self, expression: str, data: Mapping[str, Any], key: str) -> Any:
        try:
            return jsonata.evaluate(
                expression, data, data, timeout=self.expression_timeout
            )
        except JsonataError as exc:
            raise ConfigError(
                f"the expression failed: {exc.message}", f"{self.path}.config.{key}"
            ) from exc

    # -- cursor encoding ---------------------------------------------------

    def encode(self, state: PageState) -> str:
        """Encode `state` as the opaque cursor handed to the caller."""
        payload = {
            "v": _CURSOR_VERSION,
            "f": state.format,
            "p": dict(state.position),
            "n": state.pages,
            "h": list(state.history),
            "r": state.records_digest,
        }
        return base64.urlsafe_b64encode(orjson.dumps(payload)).decode().rstrip("=")

    def _decode(self, cursor: str) -> PageState:
        try:
            padded = cursor + "=" * (-len(cursor) % 4)
            payload = orjson.loads(base64.urlsafe_b64decode(padded.encode()))
        except (binascii.Error, ValueError, orjson.JSONDecodeError):
            raise InvalidCursorError(
                f"cursor {cursor[:40]!r} is not one this API issued; "
                "start again without a cursor"
            ) from None
        return self._state_from_payload(payload)

    def _state_from_payload(self, payload: Any) -> PageState:
        valid = (
            isinstance(payload, dict)
            and payload.get("v") == _CURSOR_VERSION
            and isinstance(payload.get("p"), dict)
            and isinstance(payload.get("n"), int)
            and isinstance(payload.get("h"), list)
        )
        if not valid:
            raise InvalidCursorError(
                "cursor is malformed; start again without a cursor"
            )
        if payload.get("f") != self.format:
            raise InvalidCursorError(
                f"cursor belongs to {payload.get('f')!r} pagination, but this method "
                f"uses {self.format!r}; start again without a cursor"
            )
        history = tuple(str(item) for item in payload["h"])[-_HISTORY_LENGTH:]
        digest = payload.get("r")
        return PageState(
            str(self.format),
            payload["p"],
            payload["n"],
            history,
            digest if isinstance(digest, str) else None,
        )


def _int_setting(config: Mapping[str, Any], key: str, default: int, path: str) -> int:
    value = config.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(
            f"expected a whole number, received {short_repr(value)}",
            f"{path}.config.{key}",
        )
    return value


def _request_scope(request: PreparedRequest | RequestDraft) -> dict[str, Any]:
    return {
        "url": request.full_url,
        "requestOptions": {"method": request.method, "headers": dict(request.headers)},
    }


def _follow_url(draft: RequestDraft, url: str) -> None:
    if not same_origin(draft.url, url):
        raise InvalidCursorError(
            f"next page URL {short_repr(url)} is not on the origin of "
            f"{short_repr(draft.url)}; "
            "it is not followed, so credentials stay with the configured host"
        )
    draft.url = url
    draft.query = []


def _fingerprint(position: Mapping[str, Any]) -> str:
    digest = hashlib.sha256(orjson.dumps(dict(position), option=orjson.OPT_SORT_KEYS))
    return digest.hexdigest()[:16]


def _records_digest(records: list[Any]) -> str:
    encoded = orjson.dumps(records, option=orjson.OPT_SORT_KEYS, default=str)
    return hashlib.sha256(encoded).hexdigest()[:16]


def httpx_url_join(base: str, target: str) -> str:
    """Resolve `target` against `base`, as a browser resolves a link."""
    return str(httpx.URL(base).join(target))


_PARAM_NAME = re.compile(r"[^\s=;,]+")
_TOKEN_VALUE = re.compile(r"[^;,]*")


def parse_link_header(value: str) -> list[tuple[str, dict[str, str]]]:
    """Parse an RFC 8288 Link header into (target, parameters) pairs.

    Parameter names are lower-cased and quoted values unquoted. Commas and
    semicolons inside ``<...>`` or inside quotes do not split anything.
    """
    links: list[tuple[str, dict[str, str]]] = []
    position = 0
    while True:
        start = value.find("<", position)
        end = value.find(">", start + 1)
        if start < 0 or end < 0:
            return links
        params, position = _link_params(value, end + 1)
        links.append((value[start + 1 : end].strip(), params))


def _link_params(value: str, position: int) -> tuple[dict[str, str], int]:
    """Read ``; name=value`` parameters up to the comma that ends one link."""
    params: dict[str, str] = {}
    while position < len(value):
        position = _skip_spaces(value, position)
        if position >= len(value) or value[position] == ",":
            return params, position + 1
        if value[position] != ";":
            # Junk between parameters: skip it rather than lose the next link.
            position += 1
            continue
        name_match = _PARAM_NAME.match(value, _skip_spaces(value, position + 1))
        if name_match is None:
            position += 1
            continue
        position = _skip_spaces(value, name_match.end())
        text = ""
        if position < len(value) and value[position] == "=":
            text, position = _param_value(value, _skip_spaces(value, position + 1))
        params.setdefault(name_match.group().lower(), text)
    return params, position


def _param_value(value: str, position: int) -> tuple[str, int]:
    if position < len(value) and value[position] == '"':
        chars: list[str] = []
        position += 1
        while position < len(value) and value[position] != '"':
            if value[position] == "\\" and position + 1 < len(value):
                position += 1
            chars.append(value[position])
            position += 1
        return "".join(chars), position + 1
    match = _TOKEN_VALUE.match(value, position)
    if match is None:
        return "", position
    return match.group().strip(), match.end()


def _skip_spaces(value: str, position: int) -> int:
    while position < len(value) and value[position] in " \t":
        position += 1
    return position


def find_link(value: str, rel: str) -> str | None:
    """Return the target of the first link whose ``rel`` includes `rel`.

    A ``rel`` may list several space-separated relation types
    (``rel="next last"``); relation types compare case-insensitively.
    """
    wanted = rel.lower()
    for target, params in parse_link_header(value):
        relations = params.get("rel", "").lower().split()
        if wanted in relations:
            return target
    return None
