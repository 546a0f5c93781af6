"""GraphQL-over-HTTP requests: media type negotiation and request parameters.

The rules follow the GraphQL-over-HTTP specification draft, as the server
audits of graphql-http 1.23.1 check it (see ``tests/http_audit``):

- A POST body is a JSON object with ``query`` and optional ``operationName``,
  ``variables`` and ``extensions``. Its content type must be
  ``application/json``; a missing or different one gets 415.
- A GET request carries the same parameters in the URL query string, with
  ``variables`` and ``extensions`` as JSON text.
- The response is ``application/graphql-response+json`` when the client asks
  for it in ``Accept``, and ``application/json`` otherwise. An ``Accept``
  header that allows neither gets 406.

Every failure raises `HTTPRequestError`, which carries the HTTP status and a
message for the client.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from graphql_api.errors import ErrorCode

GRAPHQL_RESPONSE_JSON = "application/graphql-response+json"
APPLICATION_JSON = "application/json"
# The media types that a response can have, best first.
RESPONSE_MEDIA_TYPES = (GRAPHQL_RESPONSE_JSON, APPLICATION_JSON)


class HTTPRequestError(Exception):
    """Raised when a request is malformed before GraphQL execution can start.

    `status` is the HTTP status of the response and `headers` are added to it,
    such as ``Allow`` on 405.
    """

    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: ErrorCode = ErrorCode.BAD_REQUEST,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.headers = dict(headers or {})


@dataclass(frozen=True, slots=True)
class GraphQLParams:
    """The parameters of one GraphQL request."""

    query: str
    operation_name: str | None = None
    variables: dict[str, Any] | None = None
    extensions: dict[str, Any] | None = field(default=None)


def negotiate_media_type(accept: str | None) -> str | None:
    """Pick the response media type for an ``Accept`` header value.

    A missing or empty header means ``application/json``, and so do ``*/*``
    and ``application/*``. Among the acceptable types the one with the
    highest ``q`` wins, then the more specific range, then the one listed
    first. Returns None when the header accepts neither supported type.
    """
    if accept is None or not accept.strip():
        return APPLICATION_JSON
    best: tuple[float, int, int] | None = None
    chosen: str | None = None
    for index, item in enumerate(accept.split(",")):
        media_range, _, parameters = item.strip().partition(";")
        media_type = _media_type_for_range(media_range.strip().lower())
        quality = _quality(parameters)
        if media_type is None or quality <= 0:
            continue
        specificity = 0 if "*" in media_range else 1
        rank = (quality, specificity, -index)
        if best is None or rank > best:
            best, chosen = rank, media_type
    return chosen


def _media_type_for_range(media_range: str) -> str | None:
    if media_range in RESPONSE_MEDIA_TYPES:
        return media_range
    if media_range in ("*/*", "application/*"):
        return APPLICATION_JSON
    return None


def _quality(parameters: str) -> float:
    for parameter in parameters.split(";"):
        name, _, value = parameter.strip().partition("=")
        if name.strip().lower() == "q":
            try:
                return float(value.strip())
            except ValueError:
                return 0.0
    return 1.0


def params_from_query_string(query_params: Mapping[str, str]) -> GraphQLParams:
    """Read the parameters of a GET request from its URL query string."""
    return _params_from_mapping(
        {
            "query": query_params.get("query"),
            "operationName": query_params.get("operationName") or None,
            "variables": _json_parameter(query_params, "variables"),
            "extensions": _json_parameter(query_params, "extensions"),
        }
    )


def _json_parameter(query_params: Mapping[str, str], name: str) -> object:
    text = query_params.get(name)
    if not text:
        return None
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        raise HTTPRequestError(
            400,
            f"The {name!r} URL parameter is not valid JSON: send a URL-encoded "
            "JSON object.",
        ) from None


def params_from_body(content_type: str | None, body: bytes) -> GraphQLParams:
    """Read the parameters of a POST request from its JSON body."""
    _check_content_type(content_type)
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise HTTPRequestError(
            400,
            f"The request body is not valid JSON ({error}): send a JSON object "
            'such as {"query": "{ __typename }"}.',
        ) from None
    if isinstance(document, list):
        raise HTTPRequestError(
            400,
            "Batched requests are not supported: send one JSON object per request.",
        )
    if not isinstance(document, dict):
        raise HTTPRequestError(
            400,
            f"The request body is a JSON {_json_kind(document)}: send a JSON "
            'object such as {"query": "{ __typename }"}.',
        )
    return _params_from_mapping(document)


def _check_content_type(content_type: str | None) -> None:
    if content_type is None or not content_type.strip():
        raise HTTPRequestError(
            415,
            "The request has no Content-Type: send 'Content-Type: application/json'.",
        )
    media_type, _, parameters = content_type.partition(";")
    if media_type.strip().lower() != APPLICATION_JSON:
        raise HTTPRequestError(
            415,
            f"Content-Type {media_type.strip()!r} is not supported: send "
            "'Content-Type: application/json'.",
        )
    for parameter in parameters.split(";"):
        name, _, value = parameter.strip().partition("=")
        charset = value.strip().strip('"').lower()
        if name.strip().lower() == "charset" and charset not in ("utf-8", "utf8"):
            raise HTTPRequestError(
                415,
                f"Charset {value.strip()!r} is not supported: send the body in UTF-8.",
            )


def _params_from_mapping(document: Mapping[str, object]) -> GraphQLParams:
    query = document.get("query")
    if query is None or query == "":
        raise HTTPRequestError(
            400, "The request has no 'query' parameter: send a GraphQL document."
        )
    if not isinstance(query, str):
        raise HTTPRequestError(
            400, f"'query' must be a string, got a JSON {_json_kind(query)}."
        )
    operation_name = document.get("operationName")
    if operation_name is not None and not isinstance(operation_name, str):
        raise HTTPRequestError(
            400,
            f"'operationName' must be a string or null, got a JSON "
            f"{_json_kind(operation_name)}.",
        )
    return GraphQLParams(
        query=query,
        operation_name=operation_name,
        variables=_optional_object(document, "variables"),
        extensions=_optional_object(document, "extensions"),
    )


def _optional_object(
    document: Mapping[str, object], name: str
) -> dict[str, Any] | None:
    value = document.get(name)
    if value is None or isinstance(value, dict):
        return value
    raise HTTPRequestError(
        400, f"{name!r} must be an object or null, got a JSON {_json_kind(value)}."
    )


def _json_kind(value: object) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if value is None:
        return "null"
    return "object"
