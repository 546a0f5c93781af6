"""Inbound webhooks: signature verification, handshakes, payload transforms.

The steps run in this order, each only if configured:

1. ``signature_verification`` checks the raw request. Formats: ``hmac``
   (``algorithm`` sha1, sha256 or sha512; ``secret`` template; ``parts``, a
   list of literals, ``$body`` for the raw body bytes, ``$header.<name>`` and
   ``$query.<name>``, concatenated without separator; ``compare_with``, such
   as ``$header.x-signature`` or ``v0=$header.x-slack-signature`` where the
   text before ``$`` is a prefix of the received value; ``encoding`` (or
   ``string_type``) ``hex``, the default, or ``base64``), ``basic``
   (``username``, ``password``) and ``bearer`` (``token``). A missing
   signature fails, and every comparison is constant-time over bytes.
2. ``handle_verification`` (JSONata over the inbound request) responds to a
   vendor's handshake: an object with ``statusCode`` and ``body`` ends the
   processing; null goes on.
3. ``payload_transform`` (JSONata over the inbound request) reshapes the body
   into events; without it the body itself is the one event.

The expressions see the request as ``{method, path, headers, query, body}``,
with lower-case header names and the body parsed as JSON or a form when it is
one.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import orjson

from config_engine import jsonata
from config_engine.display import short_repr
from config_engine.errors import ConfigError, JsonataError
from config_engine.placeholders import render

logger = logging.getLogger("config_engine.webhooks")

SIGNATURE_FORMATS = ("hmac", "basic", "bearer")
HMAC_ALGORITHMS = {
    "sha1": hashlib.sha1,
    "sha256": hashlib.sha256,
    "sha512": hashlib.sha512,
}
ENCODINGS = ("hex", "base64")


@dataclass(frozen=True, slots=True)
class InboundRequest:
    """A webhook request as received: raw body bytes and headers."""

    method: str
    headers: Mapping[str, str]
    body: bytes
    query: Mapping[str, Any] = field(default_factory=dict)
    path: str = "/"

    def header(self, name: str) -> str | None:
        """Return a header value by case-insensitive name."""
        wanted = name.lower()
        for key, value in self.headers.items():
            if key.lower() == wanted:
                return value
        return None


@dataclass(frozen=True, slots=True)
class VerificationResponse:
    """The response to send back for a vendor's verification handshake."""

    status: int
    body: Any
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class WebhookResult:
    """The outcome of one inbound webhook.

    `verified` is false only when a configured signature check failed;
    `failure` then gives the reason. `verification_response`, when set, is the
    handshake response and `events` is empty. Otherwise `events` contains the
    transformed payload.
    """

    verified: bool
    failure: str | None = None
    verification_response: VerificationResponse | None = None
    events: list[Any] = field(default_factory=list)
    signature_checked: bool = False


def process_webhook(
    webhook: Mapping[str, Any] | None,
    variables: Mapping[str, Any],
    request: InboundRequest,
    *,
    path: str = "webhook",
    timeout: float | None = None,
) -> WebhookResult:
    """Verify one inbound webhook request, then handle its handshake or transform it."""
    webhook = webhook or {}
    signature = webhook.get("signature_verification")
    if signature:
        failure = verify_signature(
            signature, variables, request, path=f"{path}.signature_verification"
        )
        if failure is not None:
            logger.warning("webhook_signature_rejected reason=%s", failure)
            return WebhookResult(
                verified=False, failure=failure, signature_checked=True
            )
    payload = inbound_payload(request)
    handshake = _handshake(webhook, payload, path, timeout)
    if handshake is not None:
        return WebhookResult(
            verified=True,
            verification_response=handshake,
            signature_checked=bool(signature),
        )
    events = _events(webhook, payload, path, timeout)
    return WebhookResult(
        verified=True, events=events, signature_checked=bool(signature)
    )


def inbound_payload(request: InboundRequest) -> dict[str, Any]:
    """Build the JSONata input for a webhook request."""
    headers = {name.lower(): value for name, value in request.headers.items()}
    return {
        "method": request.method.upper(),
        "path": request.path,
        "headers": headers,
        "query": dict(request.query),
        "body": _parse_body(request.body, headers.get("content-type", "")),
    }


def _parse_body(raw: bytes, content_type: str) -> Any:
    if not raw.strip():
        return None
    text = raw.decode("utf-8", errors="replace")
    if "x-www-form-urlencoded" in content_type:
        return dict(parse_qsl(text, keep_blank_values=True))
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return text


def _handshake(
    webhook: Mapping[str, Any],
    payload: Mapping[str, Any],
    path: str,
    timeout: float | None,
) -> VerificationResponse | None:
    expression = webhook.get("handle_verification")
    if not expression:
        return None
    result = _evaluate(expression, payload, f"{path}.handle_verification", timeout)
    if result is None:
        return None
    if not isinstance(result, Mapping):
        raise ConfigError(
            "expected an object with statusCode and body, or null; "
            f"received {short_repr(result)}",
            f"{path}.handle_verification",
        )
    status = result.get("statusCode", 200)
    if isinstance(status, float) and status.is_integer():
        status = int(status)
    if not isinstance(status, int) or not 100 <= status <= 599:
        raise ConfigError(
            f"statusCode must be an HTTP status, received {short_repr(status)}",
            f"{path}.handle_verification",
        )
    headers = result.get("headers") or {}
    return VerificationResponse(
        status=status,
        body=result.get("body"),
        headers={str(k): str(v) for k, v in headers.items()}
        if isinstance(headers, Mapping)
        else {},
    )


def _events(
    webhook: Mapping[str, Any],
    payload: Mapping[str, Any],
    path: str,
    timeout: float | None,
) -> list[Any]:
    expression = webhook.get("payload_transform")
    if not expression:
        return [payload["body"]] if payload["body"] is not None else []
    result = _evaluate(expression, payload, f"{path}.payload_transform", timeout)
    if result is None:
        return []
    return list(result) if isinstance(result, list) else [result]


def _evaluate(
    expression: str, payload: Mapping[str, Any], path: str, timeout: float | None
) -> Any:
    try:
        return jsonata.evaluate(expression, payload, None, timeout=timeout)
    except JsonataError as exc:
        raise ConfigError(f"the expression failed: {exc.message}", path) from exc


# -- signatures -------------------------------------------------------------


def verify_signature(
    block: Mapping[str, Any],
    variables: Mapping[str, Any],
    request: InboundRequest,
    *,
    path: str = "webhook.signature_verification",
) -> str | None:
    """Check a request's signature; return None when it is valid, else the reason.

    A config that cannot run (unknown format or algorithm, secret resolving to
    nothing) raises ConfigError instead, because no request could pass it.
    """
    fmt = block.get("format")
    config = block.get("config") or {}
    if fmt == "hmac":
        return _verify_hmac(config, variables, request, path)
    if fmt == "basic":
        return _verify_basic(config, variables, request, path)
    if fmt == "bearer":
        return _verify_bearer(config, variables, request, path)
    raise ConfigError(
        f"unknown signature verification format {fmt!r}; "
        f"expected one of {', '.join(SIGNATURE_FORMATS)}",
        f"{path}.format",
    )


def _verify_hmac(
    config: Mapping[str, Any],
    variables: Mapping[str, Any],
    request: InboundRequest,
    path: str,
) -> str | None:
    digest = _hmac_algorithm(config, path)
    encoding = str(config.get("encoding") or config.get("string_type") or "hex").lower()
    if encoding not in ENCODINGS:
        raise ConfigError(
            f"unknown encoding {encoding!r}; expected one of {', '.join(ENCODINGS)}",
            f"{path}.config.encoding",
        )
    secret = _required(config.get("secret"), variables, f"{path}.config.secret")
    compare_with = config.get("compare_with")
    if not isinstance(compare_with, str) or "$" not in compare_with:
        raise ConfigError(
            "compare_with must name where the signature is, "
            "such as $header.x-signature",
            f"{path}.config.compare_with",
        )
    message, missing = _signed_message(config.get("parts") or ["$body"], request, path)
    if missing:
        return missing
    received, problem = _received_signature(compare_with, request, encoding)
    if received is None:
        return problem
    expected = hmac.new(secret.encode(), message, digest).digest()
    if not hmac.compare_digest(expected, received):
        return "signature does not match"
    return None


def _hmac_algorithm(config: Mapping[str, Any], path: str) -> Any:
    name = str(config.get("algorithm") or "sha256").lower().replace("-", "")
    if name not in HMAC_ALGORITHMS:
        raise ConfigError(
            f"unknown algorithm {name!r}; expected one of {', '.join(HMAC_ALGORITHMS)}",
            f"{path}.config.algorithm",
        )
    return HMAC_ALGORITHMS[name]


def _signed_message(
    parts: Any, request: InboundRequest, path: str
) -> tuple[bytes, str | None]:
    if not isinstance(parts, list):
        raise ConfigError("parts must be a list", f"{path}.config.parts")
    chunks: list[bytes] = []
    for part in parts:
        value = _part_value(str(part), request)
        if value is None:
            return b"", f"{str(part)[1:]} is missing from the request"
        chunks.append(value)
    return b"".join(chunks), None


def _part_value(part: str, request: InboundRequest) -> bytes | None:
    if part == "$body":
        return request.body
    if part.startswith("$header."):
        header = request.header(part.removeprefix("$header."))
        return header.encode() if header is not None else None
    if part.startswith("$query."):
        value = request.query.get(part.removeprefix("$query."))
        return str(value).encode() if value is not None else None
    return part.encode()


def _received_signature(
    compare_with: str, request: InboundRequest, encoding: str
) -> tuple[bytes | None, str | None]:
    prefix, _, reference = compare_with.partition("$")
    source = _part_value("$" + reference, request)
    if source is None or not source.strip():
        return None, f"signature {reference} is missing"
    text = source.decode(errors="replace").strip()
    if not text.startswith(prefix):
        return None, f"signature does not start with {prefix!r}"
    text = text[len(prefix) :]
    try:
        if encoding == "hex":
            return bytes.fromhex(text), None
        return base64.b64decode(text, validate=True), None
    except (ValueError, binascii.Error):
        return None, f"signature is not valid {encoding}"


def _verify_basic(
    config: Mapping[str, Any],
    variables: Mapping[str, Any],
    request: InboundRequest,
    path: str,
) -> str | None:
    username = _required(
        config.get("username", "{{username}}"), variables, f"{path}.config.username"
    )
    password = _required(
        config.get("password", "{{password}}"), variables, f"{path}.config.password"
    )
    scheme, _, credential = (request.header("authorization") or "").partition(" ")
    if scheme.lower() != "basic" or not credential.strip():
        return "Basic authorization header is missing"
    try:
        received = base64.b64decode(credential.strip(), validate=True)
    except (ValueError, binascii.Error):
        return "Basic authorization header is not valid base64"
    if not hmac.compare_digest(f"{username}:{password}".encode(), received):
        return "Basic credentials do not match"
    return None


def _verify_bearer(
    config: Mapping[str, Any],
    variables: Mapping[str, Any],
    request: InboundRequest,
    path: str,
) -> str | None:
    token = _required(config.get("token"), variables, f"{path}.config.token")
    scheme, _, received = (request.header("authorization") or "").partition(" ")
    if scheme.lower() != "bearer" or not received.strip():
        return "Bearer authorization header is missing"
    if not hmac.compare_digest(token.encode(), received.strip().encode()):
        return "Bearer token does not match"
    return None


def _required(template: Any, variables: Mapping[str, Any], path: str) -> str:
    if template is None or template == "":
        raise ConfigError("a value is required", path)
    value = render(template, variables, required=True, path=path)
    text = "" if value is None else str(value)
    if not text:
        raise ConfigError("the value rendered to nothing", path)
    return text
