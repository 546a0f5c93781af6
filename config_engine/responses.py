"""Interpret upstream responses: error expressions, typed errors, redaction.

An integration's `error_expression` (or a method's, which replaces it) sees
``status``, ``headers`` (lower-case names), ``data`` (the parsed body) and
``response`` (all three together). A truthy result makes the response an
error, even a 2xx; a falsy result makes it a success, even a 4xx. A string
result is the error message; an object may carry ``message`` and ``status``.
Without an expression, a status of 400 or more is an error. An expression
that fails to evaluate falls back to that status rule and logs a warning.

Errors keep a short message taken from the upstream body, with every known
secret value replaced, so that an upstream that echoes the token cannot leak
it through an error.
"""

from __future__ import annotations

import base64
import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from config_engine import jsonata
from config_engine.errors import (
    AuthenticationError,
    ForbiddenError,
    JsonataError,
    NotFoundError,
    RateLimitedError,
    UpstreamError,
    UpstreamUnavailableError,
)
from config_engine.http import UpstreamResponse
from config_engine.masking import MASK, MIN_SECRET_LENGTH, mask_text, secret_values

logger = logging.getLogger("config_engine.responses")

MAX_MESSAGE_LENGTH = 300
REDACTED = MASK
_SCOPE_IN_AUTHENTICATE = re.compile(r'scope="([^"]*)"')


def lookup_path(data: Any, path: str | None) -> Any:
    """Return the value at a dotted path (``a.b.0.c``), or None when absent.

    An empty path returns `data` itself. Digits index into lists.
    """
    if not path:
        return data
    current = data
    for part in path.split("."):
        if isinstance(current, Mapping):
            current = current.get(part)
        elif isinstance(current, list) and part.lstrip("-").isdigit():
            index = int(part)
            current = current[index] if -len(current) <= index < len(current) else None
        else:
            return None
        if current is None:
            return None
    return current


def as_records(result: Any) -> list[Any]:
    """Return the records of one page: a list as is, None as empty, else one item."""
    if result is None:
        return []
    if isinstance(result, list):
        return result
    return [result]


class Redactor:
    """Replaces known secret values in text.

    Secrets are collected from the account context (values under keys such as
    ``access_token``, ``api_key`` or ``password``, at any depth) and from the
    authorization headers actually sent, including the halves of a Basic
    credential. Both are read only when text is first redacted, since most
    requests never fail.
    """

    def __init__(
        self, secrets: Iterable[str] = (), *, context: Mapping[str, Any] | None = None
    ) -> None:
        self._secrets: set[str] = set()
        self._context = context
        self._pending_headers: list[Mapping[str, str]] = []
        self.add(secrets)

    def add(self, secrets: Iterable[str]) -> None:
        """Add values to redact; values shorter than four characters are ignored."""
        for secret in secrets:
            if isinstance(secret, str) and len(secret) >= MIN_SECRET_LENGTH:
                self._secrets.add(secret)

    def add_header_values(self, headers: Mapping[str, str]) -> None:
        """Add authorization header values and the credential inside each."""
        self._pending_headers.append(headers)

    def _add_headers(self, headers: Mapping[str, str]) -> None:
        for value in headers.values():
            self.add([value])
            scheme, _, credential = value.partition(" ")
            if not credential:
                continue
            self.add([credential])
            if scheme.lower() == "basic":
                self.add(_basic_parts(credential))

    def redact(self, text: str) -> str:
        """Return `text` with every known secret replaced by ``[redacted]``."""
        return mask_text(text, self.known_secrets())

    def known_secrets(self) -> frozenset[str]:
        """Return every secret value collected so far, reading pending sources."""
        if self._context is not None:
            self.add(secret_values(self._context))
            self._context = None
        while self._pending_headers:
            self._add_headers(self._pending_headers.pop())
        return frozenset(self._secrets)

    @classmethod
    def from_context(cls, context: Mapping[str, Any]) -> Redactor:
        """Build a redactor for the secret-looking values of an account context."""
        return cls(context=context)


def _basic_parts(credential: str) -> list[str]:
    try:
        decoded = base64.b64decode(credential, validate=True).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return []
    return [decoded, *decoded.split(":", 1)]


@dataclass(frozen=True, slots=True)
class ErrorVerdict:
    """The verdict on a response: whether it is an error, and the message given."""

    is_error: bool
    message: str | None = None
    status: int | None = None


def expression_bindings(response: UpstreamResponse) -> dict[str, Any]:
    """Return the names that error and rate-limit expressions see for one response."""
    headers = dict(response.headers)
    return {
        "status": response.status,
        "headers": headers,
        "data": response.data,
        "response": {
            "status": response.status,
            "headers": headers,
            "data": response.data,
        },
    }


def judge_response(
    response: UpstreamResponse,
    error_expression: str | None,
    *,
    path: str = "error_expression",
    timeout: float | None = None,
) -> ErrorVerdict:
    """Decide whether `response` is an error, using `error_expression` if set."""
    default = ErrorVerdict(is_error=response.status >= 400)
    if not error_expression:
        return default
    bindings = expression_bindings(response)
    try:
        result = jsonata.evaluate(error_expression, bindings, bindings, timeout=timeout)
    except JsonataError as exc:
        logger.warning(
            "error_expression_failed path=%s jsonata_code=%s status=%d",
            path,
            exc.jsonata_code,
            response.status,
        )
        return default
    return _verdict(result)


def _verdict(result: Any) -> ErrorVerdict:
    if isinstance(result, Mapping):
        status = result.get("status")
        message = result.get("message")
        return ErrorVerdict(
            is_error=True,
            message=str(message) if message is not None else None,
            status=status if isinstance(status, int) and status >= 400 else None,
        )
    if isinstance(result, str):
        return ErrorVerdict(is_error=bool(result), message=result or None)
    return ErrorVerdict(is_error=bool(result))


def upstream_error(
    response: UpstreamResponse,
    verdict: ErrorVerdict,
    redactor: Redactor,
    *,
    action: str,
) -> UpstreamError:
    """Build the typed error for a response judged to be an error.

    The class follows the status: 401 authentication, 403 forbidden (with the
    missing scopes when the upstream names them), 404 not found, 429 rate
    limited, 408 and 5xx unavailable, anything else the base UpstreamError.
    A 2xx that the error expression rejected takes its class from the status
    that the expression returned, or is a plain UpstreamError.
    """
    status = verdict.status or response.status
    detail = verdict.message or upstream_message(response.data)
    message = f"{action} failed with status {response.status}"
    if detail:
        message = f"{message}: {detail}"
    message = _shorten(redactor.redact(message))
    if status == 401:
        return AuthenticationError(message, status=response.status)
    if status == 403:
        scopes = missing_scopes(response)
        return ForbiddenError(message, status=response.status, missing_scopes=scopes)
    if status == 404:
        return NotFoundError(message, status=response.status)
    if status == 429:
        return RateLimitedError(message, status=response.status)
    if status == 408 or status >= 500:
        return UpstreamUnavailableError(message, status=response.status)
    return UpstreamError(message, status=response.status)


def upstream_message(data: Any) -> str | None:
    """Pick the error message out of the usual vendor body shapes."""
    if isinstance(data, str):
        return data.strip() or None
    if not isinstance(data, Mapping):
        return None
    for key in ("error_description", "message", "detail", "error_message", "title"):
        value = data.get(key)
        if isinstance(value, str) and value:
            return value
    error = data.get("error") or data.get("errors")
    if isinstance(error, str):
        return error
    if isinstance(error, Mapping):
        return upstream_message(error)
    if isinstance(error, list) and error:
        return upstream_message(error[0])
    return None


def missing_scopes(response: UpstreamResponse) -> list[str]:
    """Return the OAuth scopes that a 403 response names as missing, if any.

    Reads, in order: ``WWW-Authenticate: Bearer error="insufficient_scope",
    scope="..."`` (RFC 6750), GitHub's ``X-Accepted-OAuth-Scopes`` minus
    ``X-OAuth-Scopes``, and body keys ``missing_scopes``, ``required_scopes``
    or Slack's ``needed``.
    """
    authenticate = response.headers.get("www-authenticate", "")
    if "insufficient_scope" in authenticate:
        match = _SCOPE_IN_AUTHENTICATE.search(authenticate)
        if match:
            return match.group(1).split()
    accepted = response.headers.get("x-accepted-oauth-scopes")
    if accepted:
        granted = set(_split_scopes(response.headers.get("x-oauth-scopes", "")))
        return [scope for scope in _split_scopes(accepted) if scope not in granted]
    data = response.data
    if isinstance(data, Mapping):
        for key in ("missing_scopes", "required_scopes", "needed"):
            value = data.get(key)
            if isinstance(value, list):
                return [str(scope) for scope in value]
            if isinstance(value, str) and value:
                return _split_scopes(value)
    return []


def _split_scopes(text: str) -> list[str]:
    return [scope for scope in re.split(r"[,\s]+", text) if scope]


def _shorten(text: str) -> str:
    text = " ".join(text.split())
    if len(text) <= MAX_MESSAGE_LENGTH:
        return text
    return text[: MAX_MESSAGE_LENGTH - 1] + "…"
