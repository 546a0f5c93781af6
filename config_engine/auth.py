"""Authorization headers for upstream requests.

Formats of the `authorization` block:

- ``bearer``: ``Authorization: Bearer <token>``. The token is ``config.token``
  (a placeholder template) when set, or else the first of the context's
  ``oauth.token.access_token``, ``access_token`` and ``token``.
- ``basic``: HTTP Basic from ``config.username`` and ``config.password``
  (templates, defaults ``{{username}}`` and ``{{password}}``). A literal empty
  password is allowed; a placeholder that renders to nothing is not.
- ``header``: ``config.header_name`` and ``config.header_value``, or
  ``config.expression``, a JSONata expression that returns an object of
  headers from the bindings ``url``, ``requestOptions`` and ``context``.

A credential that resolves to nothing raises PlaceholderError or ConfigError
naming the config path: the engine never sends ``Bearer `` with nothing.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from typing import Any

from config_engine import jsonata
from config_engine.display import short_repr
from config_engine.errors import ConfigError, JsonataError, PlaceholderError
from config_engine.http import PreparedRequest, RequestDraft
from config_engine.placeholders import render
from config_engine.responses import lookup_path

AUTHORIZATION_FORMATS = ("bearer", "basic", "header")
BEARER_TOKEN_PATHS = ("oauth.token.access_token", "access_token", "token")
# Values that are only an auth scheme: the credential after it went missing.
_BARE_SCHEMES = frozenset({"bearer", "basic", "token", "bot", "apikey", "api-key"})
_PLACEHOLDER = re.compile(r"\{\{\s*([^}]+?)\s*\}\}")


def authorization_headers(
    block: Mapping[str, Any] | None,
    variables: Mapping[str, Any],
    request: PreparedRequest | RequestDraft,
    *,
    path: str = "authorization",
    timeout: float | None = None,
) -> dict[str, str]:
    """Return the headers that authorize `request`; empty without a block."""
    if not block:
        return {}
    fmt = block.get("format")
    config = block.get("config") or {}
    if not isinstance(config, Mapping):
        raise ConfigError("authorization config must be an object", f"{path}.config")
    if fmt == "bearer":
        return {"Authorization": f"Bearer {_bearer_token(config, variables, path)}"}
    if fmt == "basic":
        return {"Authorization": _basic(config, variables, path)}
    if fmt == "header":
        return _header(config, variables, request, path, timeout)
    raise ConfigError(
        f"unknown authorization format {fmt!r}; "
        f"expected one of {', '.join(AUTHORIZATION_FORMATS)}",
        f"{path}.format",
    )


def _bearer_token(
    config: Mapping[str, Any], variables: Mapping[str, Any], path: str
) -> str:
    template = config.get("token")
    if template:
        return _required_text(template, variables, f"{path}.config.token")
    context = variables.get("context") or {}
    for token_path in BEARER_TOKEN_PATHS:
        value = lookup_path(context, token_path)
        if isinstance(value, str) and value:
            return value
    raise PlaceholderError(BEARER_TOKEN_PATHS[0], f"{path}.config.token")


def _basic(config: Mapping[str, Any], variables: Mapping[str, Any], path: str) -> str:
    username = _required_text(
        config.get("username", "{{username}}"), variables, f"{path}.config.username"
    )
    password = _required_text(
        config.get("password", "{{password}}"), variables, f"{path}.config.password"
    )
    credential = base64.b64encode(f"{username}:{password}".encode()).decode()
    return f"Basic {credential}"


def _header(
    config: Mapping[str, Any],
    variables: Mapping[str, Any],
    request: PreparedRequest | RequestDraft,
    path: str,
    timeout: float | None,
) -> dict[str, str]:
    expression = config.get("expression")
    if expression:
        return _expression_headers(expression, variables, request, path, timeout)
    name = config.get("header_name")
    if not name:
        raise ConfigError(
            "header authorization needs header_name and header_value, or expression",
            f"{path}.config.header_name",
        )
    value = _required_text(
        config.get("header_value"), variables, f"{path}.config.header_value"
    )
    return {str(name): value}


def _expression_headers(
    expression: str,
    variables: Mapping[str, Any],
    request: PreparedRequest | RequestDraft,
    path: str,
    timeout: float | None,
) -> dict[str, str]:
    data = {
        "url": request.full_url,
        "requestOptions": {"method": request.method, "headers": dict(request.headers)},
        "context": variables.get("context") or {},
    }
    expression_path = f"{path}.config.expression"
    try:
        result = jsonata.evaluate(expression, data, data, timeout=timeout)
    except JsonataError as exc:
        raise ConfigError(
            f"the expression failed: {exc.message}", expression_path
        ) from exc
    if not isinstance(result, Mapping) or not result:
        raise ConfigError(
            f"the expression must return an object of headers, received "
            f"{short_repr(result)}",
            expression_path,
        )
    headers: dict[str, str] = {}
    for name, value in result.items():
        text = "" if value is None else str(value)
        if _is_empty_credential(text):
            raise ConfigError(
                f"the expression gave header {name!r} no credential; "
                "set the values it reads in the account context",
                expression_path,
            )
        headers[str(name)] = text
    return headers


def _required_text(template: Any, variables: Mapping[str, Any], path: str) -> str:
    if template is None:
        raise ConfigError("a credential template is missing", path)
    value = render(template, variables, required=True, path=path)
    text = "" if value is None else str(value)
    if isinstance(template, str) and _is_empty_credential(text):
        placeholder = _PLACEHOLDER.search(template)
        if placeholder:
            raise PlaceholderError(placeholder.group(1), path)
    return text


def _is_empty_credential(value: str) -> bool:
    stripped = value.strip()
    return not stripped or stripped.lower() in _BARE_SCHEMES
