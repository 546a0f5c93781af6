"""OAuth 2.0 credentials: token refresh, client-credentials tokens, parsing.

Tokens live where Truto keeps them, in the account context under
``oauth.token`` (``access_token``, ``refresh_token``, ``expires_at`` as an ISO
8601 string, ``token_type``, ``scope`` and the vendor's extra fields), with the
granted scopes also under ``oauth.scope``.

The token endpoint is ``auth.tokenHost`` joined with ``auth.refreshPath`` (for
a refresh; default: ``tokenPath``) or ``auth.tokenPath`` (default
``/oauth/token``). The client authenticates with HTTP Basic
(``authorizationMethod: header``, the default) or in the body
(``authorizationMethod: body``); the body is form-encoded (``bodyFormat:
form``, the default) or JSON. Both settings are read from ``options`` and
then from the credential config itself. ``refreshParams`` and ``tokenParams``
add template parameters to the refresh and token requests.

A 4xx from the token endpoint (``invalid_grant`` and the rest) means the
credentials are dead: AuthenticationError, which the account lifecycle turns
into needs_reauth. A 429 is a RateLimitedError; 408, 5xx, timeouts and
responses without an access token are UpstreamUnavailableError, so the caller
may try again later. Token requests are not retried here, because a refresh
token that the vendor rotated on a lost response cannot be sent twice.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, quote_plus

import httpx

from config_engine.errors import (
    AuthenticationError,
    ConfigError,
    RateLimitedError,
    UpstreamUnavailableError,
)
from config_engine.http import (
    PreparedRequest,
    SendOptions,
    UpstreamResponse,
    check_base_url,
    encode_body,
    join_url,
    render_optional,
    send,
)
from config_engine.masking import secret_values
from config_engine.placeholders import render
from config_engine.rate_limit import parse_retry_after
from config_engine.responses import Redactor, lookup_path

logger = logging.getLogger("config_engine.oauth")

DEFAULT_TOKEN_PATH = "/oauth/token"
_KNOWN_FIELDS = frozenset(
    {"access_token", "refresh_token", "expires_in", "expires_at", "token_type", "scope"}
)
_SECRET_FIELDS = frozenset({"access_token", "refresh_token", "id_token"})
# Absolute expiry values above this are milliseconds (1e11 s is the year 5138).
_MILLISECONDS_THRESHOLD = 1e11


@dataclass(frozen=True, slots=True)
class CredentialUpdate:
    """New OAuth credentials from a token endpoint.

    `expires_at` is an aware datetime, or None when the vendor gave no
    lifetime. `raw` contains the response's other fields, without any that look
    secret. `refresh_token_rotated` is true when the vendor issued a new
    refresh token.
    """

    access_token: str
    refresh_token: str | None
    expires_at: datetime | None
    token_type: str | None
    scope: list[str] | None
    raw: dict[str, Any] = field(default_factory=dict)
    refresh_token_rotated: bool = False

    @property
    def credentials(self) -> dict[str, Any]:
        """The credentials as a dict with the fields above."""
        return {
            "access_token": self.access_token,
            "refresh_token": self.refresh_token,
            "expires_at": self.expires_at,
            "token_type": self.token_type,
            "scope": self.scope,
            "raw": dict(self.raw),
        }

    def context_patch(self) -> dict[str, Any]:
        """Return the JSON-ready change to the account context: its ``oauth`` key."""
        token: dict[str, Any] = {**self.raw, "access_token": self.access_token}
        if self.refresh_token is not None:
            token["refresh_token"] = self.refresh_token
        token["expires_at"] = self.expires_at.isoformat() if self.expires_at else None
        if self.token_type is not None:
            token["token_type"] = self.token_type
        patch: dict[str, Any] = {"token": token}
        if self.scope is not None:
            token["scope"] = " ".join(self.scope)
            patch["scope"] = list(self.scope)
        return {"oauth": patch}

    def apply_to(self, context: Mapping[str, Any]) -> dict[str, Any]:
        """Return a copy of `context` with the new token stored under ``oauth``."""
        updated = dict(context)
        oauth = dict(updated.get("oauth") or {})
        patch = self.context_patch()["oauth"]
        oauth["token"] = patch["token"]
        if "scope" in patch:
            oauth["scope"] = patch["scope"]
        updated["oauth"] = oauth
        return updated


def parse_token_response(
    payload: Mapping[str, Any],
    *,
    now: datetime,
    previous_refresh_token: str | None = None,
) -> CredentialUpdate:
    """Parse a token endpoint's response the way vendors really send it.

    ``expires_in`` may be a number, a numeric string or a float; zero, a
    negative value or an unreadable one means no known lifetime. Without it,
    an absolute ``expires_at`` in epoch seconds, epoch milliseconds or ISO 8601
    is used. A missing refresh token keeps `previous_refresh_token`; a new one
    replaces it. Raises UpstreamUnavailableError without an access token.
    """
    access_token = payload.get("access_token")
    if not isinstance(access_token, str) or not access_token:
        raise UpstreamUnavailableError(
            "the token endpoint responded without an access_token; "
            f"fields received: {sorted(str(key) for key in payload)}",
            status=None,
        )
    new_refresh = payload.get("refresh_token")
    rotated = isinstance(new_refresh, str) and bool(new_refresh)
    token_type = payload.get("token_type")
    return CredentialUpdate(
        access_token=access_token,
        refresh_token=new_refresh if rotated else previous_refresh_token,
        expires_at=token_expiry(payload, now),
        token_type=str(token_type) if token_type is not None else None,
        scope=_scopes(payload.get("scope")),
        raw=_extra_fields(payload),
        refresh_token_rotated=rotated and new_refresh != previous_refresh_token,
    )


def token_expiry(payload: Mapping[str, Any], now: datetime) -> datetime | None:
    """Return when the access token expires, or None when that is unknown.

    An expiry past what `datetime` can represent (the year 9999), such as
    ``expires_in: 1e30``, is treated as unknown as well.
    """
    expires_in = _number(payload.get("expires_in"))
    if expires_in is not None:
        if not expires_in > 0:
            return None
        try:
            return now + timedelta(seconds=expires_in)
        except OverflowError:
            logger.warning("oauth_expiry_out_of_range field=expires_in")
            return None
    return _absolute_time(payload.get("expires_at"))


def _absolute_time(value: Any) -> datetime | None:
    number = _number(value)
    if number is not None and number > 0:
        seconds = number / 1000 if number >= _MILLISECONDS_THRESHOLD else number
        try:
            return datetime.fromtimestamp(seconds, tz=UTC)
        except (OverflowError, OSError, ValueError):
            return None
    if isinstance(value, str) and number is None:
        try:
            moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            logger.warning("oauth_expiry_unreadable field=expires_at")
            return None
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return None


def _number(value: Any) -> float | None:
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


def _scopes(value: Any) -> list[str] | None:
    if isinstance(value, str):
        return [scope for scope in value.replace(",", " ").split() if scope]
    if isinstance(value, list):
        return [str(scope) for scope in value]
    return None


def _extra_fields(payload: Mapping[str, Any]) -> dict[str, Any]:
    extras: dict[str, Any] = {}
    for key, value in payload.items():
        name = str(key)
        if name in _KNOWN_FIELDS or name in _SECRET_FIELDS:
            continue
        if secret_values({name: "x" * 8}):
            continue
        extras[name] = value
    return extras


# -- token endpoint ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TokenEndpoint:
    """How to reach one credential config's token endpoint."""

    url: str
    client_id: str | None
    client_secret: str | None
    authorization_method: str
    body_format: str


def token_endpoint(
    config: Mapping[str, Any],
    variables: Mapping[str, Any],
    *,
    refresh: bool,
    path: str,
) -> TokenEndpoint:
    """Read and render the token endpoint settings of a credential config."""
    auth = config.get("auth") or {}
    host = auth.get("tokenHost")
    token_path = auth.get("tokenPath") or DEFAULT_TOKEN_PATH
    endpoint_path = (auth.get("refreshPath") or token_path) if refresh else token_path
    rendered_path = str(
        render(endpoint_path, variables, required=True, path=f"{path}.auth")
    )
    if rendered_path.startswith(("http://", "https://")):
        url = check_base_url(rendered_path, path=f"{path}.auth.tokenPath")
    else:
        if not host:
            raise ConfigError("tokenHost is missing", f"{path}.auth.tokenHost")
        rendered_host = str(
            render(host, variables, required=True, path=f"{path}.auth.tokenHost")
        )
        url = join_url(
            check_base_url(
                rendered_host, path=f"{path}.auth.tokenHost", template=str(host)
            ),
            rendered_path,
        )
    return TokenEndpoint(
        url=url,
        client_id=_client_value(config, variables, "id", "client_id", path),
        client_secret=_client_value(config, variables, "secret", "client_secret", path),
        authorization_method=_option(
            config, "authorizationMethod", "header", ("header", "body"), path
        ),
        body_format=_option(config, "bodyFormat", "form", ("form", "json"), path),
    )


def _client_value(
    config: Mapping[str, Any],
    variables: Mapping[str, Any],
    key: str,
    context_key: str,
    path: str,
) -> str | None:
    client = config.get("client") or {}
    template = client.get(key) if isinstance(client, Mapping) else None
    if template:
        value = render(template, variables, required=True, path=f"{path}.client.{key}")
        return str(value)
    value = lookup_path(variables.get("context") or {}, context_key)
    return str(value) if value else None


def _option(
    config: Mapping[str, Any],
    key: str,
    default: str,
    allowed: tuple[str, ...],
    path: str,
) -> str:
    options = config.get("options") or {}
    value = (options.get(key) if isinstance(options, Mapping) else None) or config.get(
        key
    )
    value = value or default
    if value not in allowed:
        raise ConfigError(
            f"unknown {key} {value!r}; expected one of {', '.join(allowed)}",
            f"{path}.options.{key}",
        )
    return str(value)


def token_request(
    endpoint: TokenEndpoint, params: Mapping[str, Any]
) -> PreparedRequest:
    """Build the POST to the token endpoint with the client's authentication."""
    body = dict(params)
    headers = {"Accept": "application/json"}
    if endpoint.authorization_method == "header" and endpoint.client_id:
        headers["Authorization"] = _client_basic(
            endpoint.client_id, endpoint.client_secret
        )
    elif endpoint.client_id:
        body["client_id"] = endpoint.client_id
        if endpoint.client_secret:
            body["client_secret"] = endpoint.client_secret
    content = encode_body(body, endpoint.body_format)
    headers["Content-Type"] = (
        "application/json"
        if endpoint.body_format == "json"
        else "application/x-www-form-urlencoded"
    )
    return PreparedRequest(
        method="POST",
        url=endpoint.url,
        headers=headers,
        content=content,
        secret_headers=frozenset({"authorization"}),
    )


def _client_basic(client_id: str, client_secret: str | None) -> str:
    # RFC 6749 section 2.3.1: form-encode each part before joining and base64.
    pair = f"{quote_plus(client_id)}:{quote_plus(client_secret or '')}"
    return "Basic " + base64.b64encode(pair.encode()).decode()


async def request_token(
    client: httpx.AsyncClient,
    request: PreparedRequest,
    *,
    grant: str,
    redactor: Redactor,
    now: datetime,
    previous_refresh_token: str | None,
    options: SendOptions,
) -> CredentialUpdate:
    """Send a token request and parse the response, raising the typed errors above."""
    response = await send(client, request, options)
    payload = _token_payload(response)
    if response.status >= 400 or "error" in payload:
        raise _token_error(response, payload, redactor, grant)
    update = parse_token_response(
        payload, now=now, previous_refresh_token=previous_refresh_token
    )
    logger.info(
        "oauth_token_received grant=%s rotated=%s expires_at=%s",
        grant,
        update.refresh_token_rotated,
        update.expires_at.isoformat() if update.expires_at else None,
    )
    return update


def _token_payload(response: UpstreamResponse) -> dict[str, Any]:
    if isinstance(response.data, Mapping):
        return dict(response.data)
    if isinstance(response.data, str) and "=" in response.data:
        # Some vendors still respond with a form-encoded body.
        return dict(parse_qsl(response.data.strip()))
    return {}


def _token_error(
    response: UpstreamResponse,
    payload: Mapping[str, Any],
    redactor: Redactor,
    grant: str,
) -> Exception:
    code = payload.get("error")
    description = payload.get("error_description") or payload.get("message")
    detail = ": ".join(str(part) for part in (code, description) if part)
    message = redactor.redact(
        f"token request ({grant}) failed with status {response.status}"
        + (f": {detail}" if detail else "")
    )[:300]
    logger.warning(
        "oauth_token_failed grant=%s status=%d error=%s",
        grant,
        response.status,
        redactor.redact(str(code)) if code else None,
    )
    if response.status == 429:
        retry_after = parse_retry_after(response.headers.get("retry-after"), 0.0)
        return RateLimitedError(message, status=429, retry_after=retry_after)
    if response.status == 408 or response.status >= 500:
        return UpstreamUnavailableError(message, status=response.status)
    if response.status >= 400 or code:
        return AuthenticationError(message, status=response.status)
    return UpstreamUnavailableError(message, status=response.status)


def token_redactor(context: Mapping[str, Any], endpoint: TokenEndpoint) -> Redactor:
    """Build a redactor for the context's secrets and the client secret."""
    redactor = Redactor(secret_values(context))
    if endpoint.client_secret:
        redactor.add([endpoint.client_secret])
    return redactor


def render_params(
    params: Any, variables: Mapping[str, Any], *, path: str
) -> dict[str, Any]:
    """Render `refreshParams` or `tokenParams`; None values are dropped."""
    if not params:
        return {}
    if not isinstance(params, Mapping):
        raise ConfigError("expected an object of parameters", path)
    rendered = render_optional(dict(params), variables, path=path)
    return {key: value for key, value in rendered.items() if value is not None}


async def refresh_access_token(
    client: httpx.AsyncClient,
    config: Mapping[str, Any],
    variables: Mapping[str, Any],
    *,
    path: str,
    now: datetime,
    options: SendOptions,
) -> CredentialUpdate:
    """Trade the stored refresh token for a new access token.

    Raises AuthenticationError at once when the context contains no refresh
    token, since only a reconnection can give one.
    """
    context = variables.get("context") or {}
    refresh_token = lookup_path(context, "oauth.token.refresh_token") or context.get(
        "refresh_token"
    )
    if not isinstance(refresh_token, str) or not refresh_token:
        raise AuthenticationError(
            "no refresh token is stored in the account context "
            "(oauth.token.refresh_token); reconnect the account",
            status=None,
        )
    endpoint = token_endpoint(config, variables, refresh=True, path=path)
    params = {
        "grant_type": "refresh_token",
        "refresh_token": refresh_token,
        **render_params(
            config.get("refreshParams"), variables, path=f"{path}.refreshParams"
        ),
    }
    return await request_token(
        client,
        token_request(endpoint, params),
        grant="refresh_token",
        redactor=token_redactor(context, endpoint),
        now=now,
        previous_refresh_token=refresh_token,
        options=options,
    )


async def client_credentials_token(
    client: httpx.AsyncClient,
    config: Mapping[str, Any],
    variables: Mapping[str, Any],
    *,
    path: str,
    now: datetime,
    options: SendOptions,
) -> CredentialUpdate:
    """Fetch a token with the client-credentials grant.

    The client id and secret come from ``client.id`` and ``client.secret`` in
    the config, or else from ``client_id`` and ``client_secret`` in the
    context, where the account's credential fields put them.
    """
    context = variables.get("context") or {}
    endpoint = token_endpoint(config, variables, refresh=False, path=path)
    if not endpoint.client_id or not endpoint.client_secret:
        raise AuthenticationError(
            "client_id and client_secret are required for the client-credentials "
            "grant; set them in the account context",
            status=None,
        )
    params: dict[str, Any] = {"grant_type": "client_credentials"}
    scope = _scope_param(config)
    if scope:
        params["scope"] = scope
    params.update(
        render_params(config.get("tokenParams"), variables, path=f"{path}.tokenParams")
    )
    return await request_token(
        client,
        token_request(endpoint, params),
        grant="client_credentials",
        redactor=token_redactor(context, endpoint),
        now=now,
        previous_refresh_token=None,
        options=options,
    )


def _scope_param(config: Mapping[str, Any]) -> str | None:
    scope = config.get("scope")
    options = config.get("options") or {}
    separator = (
        options.get("scopeSeparator", " ") if isinstance(options, Mapping) else " "
    )
    if isinstance(scope, list):
        return str(separator).join(str(item) for item in scope) or None
    if isinstance(scope, str):
        return scope or None
    return None
