"""Recognise credentials and mask them in descriptions of upstream requests.

A value is treated as a credential when it sits under a key named like a
secret (``api_key``, ``access_token``, ``password``...) or when it contains a
known secret value, such as one read from the account context. The dry run
of ``config request`` uses `mask_request` so that a printed request shows
neither the authorization headers nor an ``api_key`` in the query string nor
a ``password`` in the body.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping
from typing import Any
from urllib.parse import parse_qsl, urlencode

import orjson

MASK = "[redacted]"
# Keys whose string values are treated as secrets wherever they appear.
_SECRET_KEY = re.compile(
    r"token|secret|password|passwd|api_?key|apikey|credential|signature|private",
    re.IGNORECASE,
)
_NOT_SECRET_KEYS = frozenset({"token_type", "expires_at", "expires_in", "scope"})
# Metadata about a secret, such as refresh_token_expires_in, is not a secret.
_NOT_SECRET_SUFFIXES = ("_expires_in", "_expires_at", "_type", "_url", "_uri")
# Shorter values are too likely to occur by chance to be masked as text.
MIN_SECRET_LENGTH = 4
# The last name of a nested query key: "auth[api_key]" is checked as "api_key".
_LAST_KEY = re.compile(r"\[([^\[\]]*)\]$")


def is_secret_key(key: str) -> bool:
    """Return whether values under `key` are treated as secrets."""
    if key in _NOT_SECRET_KEYS or key.endswith(_NOT_SECRET_SUFFIXES):
        return False
    return bool(_SECRET_KEY.search(key))


def secret_values(value: Any, key: str = "") -> list[str]:
    """Collect the string values stored under secret-looking keys, at any depth."""
    found: list[str] = []
    if isinstance(value, Mapping):
        for sub_key, sub_value in value.items():
            found.extend(secret_values(sub_value, str(sub_key)))
    elif isinstance(value, list):
        for item in value:
            found.extend(secret_values(item, key))
    elif isinstance(value, str) and is_secret_key(key):
        found.append(value)
    return found


def mask_text(text: str, secrets: Collection[str]) -> str:
    """Return `text` with every known secret value replaced by the mask."""
    # Longest first, so that a secret containing another is replaced whole.
    for secret in sorted(secrets, key=len, reverse=True):
        if len(secret) >= MIN_SECRET_LENGTH and secret in text:
            text = text.replace(secret, MASK)
    return text


def mask_pairs(
    pairs: Iterable[tuple[str, str]], secrets: Collection[str]
) -> list[tuple[str, str]]:
    """Mask the values of query or form pairs that carry a credential."""
    return [(name, _mask_value(name, value, secrets)) for name, value in pairs]


def mask_headers(
    headers: Mapping[str, str],
    secrets: Collection[str],
    secret_names: Collection[str] = (),
) -> dict[str, str]:
    """Mask the header values that carry a credential.

    `secret_names` are lower-case names masked whatever their value, such as
    the headers that the authorization produced.
    """
    return {
        name: MASK
        if name.lower() in secret_names
        else _mask_value(name, value, secrets)
        for name, value in headers.items()
    }


def mask_body(content: bytes, content_type: str, secrets: Collection[str]) -> str:
    """Return a request body as text with its credentials masked.

    A JSON body has the values under secret-looking keys masked at any depth,
    a form body has its secret-looking fields masked, and any body has the
    known secret values replaced.
    """
    text = content.decode("utf-8", errors="replace")
    if "x-www-form-urlencoded" in content_type:
        pairs = parse_qsl(text, keep_blank_values=True)
        return urlencode(mask_pairs(pairs, secrets))
    try:
        data = orjson.loads(content)
    except orjson.JSONDecodeError:
        return mask_text(text, secrets)
    return orjson.dumps(_mask_json(data, "", secrets)).decode()


def _mask_value(name: str, value: str, secrets: Collection[str]) -> str:
    match = _LAST_KEY.search(name)
    key = match.group(1) if match else name
    if value and is_secret_key(key):
        return MASK
    return mask_text(value, secrets)


def _mask_json(value: Any, key: str, secrets: Collection[str]) -> Any:
    if isinstance(value, dict):
        return {
            name: _mask_json(item, str(name), secrets) for name, item in value.items()
        }
    if isinstance(value, list):
        return [_mask_json(item, key, secrets) for item in value]
    if isinstance(value, str):
        return _mask_value(key, value, secrets)
    return value
