"""A logging filter that removes credentials from log records.

The project's loggers never log a secret on purpose. The filter is the net
under that rule, for messages that quote a header, a URL or an exception:

- ``Bearer`` and ``Basic`` credentials, and API tokens of this server
  (``gapi_...``);
- the value after a key named like a secret (`db.crypto.is_secret_key`) or
  after ``Authorization``, ``Cookie`` and ``Set-Cookie``. Both the
  ``key=value`` form (URL query strings included) and the quoted
  ``"key": "value"`` form (JSON and Python reprs) count;
- the rest of an ``Authorization:`` or ``Cookie:`` line;
- the password in a URL such as ``postgresql://user:password@host``.

`install_log_redaction` adds the filter to the handlers of the root logger
and of uvicorn's loggers, because a filter on a logger does not see the
records that its child loggers propagate. uvicorn replaces its handlers when
it configures logging, so the server installs the filter again at start-up.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any

from db.crypto import is_secret_key

REDACTED = "[redacted]"
# Loggers whose handlers get the filter. uvicorn.access does not propagate,
# and uvicorn's handlers sit on "uvicorn".
_LOGGERS = ("", "uvicorn", "uvicorn.access", "uvicorn.error")
# Header names that carry credentials without looking like a secret.
_CREDENTIAL_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "cookie", "set-cookie"}
)
# "Basic" only as headers spell it, because "basic" is common in prose.
_SCHEME_CREDENTIAL = re.compile(r"\b([Bb]earer|BEARER|Basic)\s+[A-Za-z0-9._~+/=-]{8,}")
_API_TOKEN = re.compile(r"\bgapi_[A-Za-z0-9_-]{8,}")
_URL_PASSWORD = re.compile(r"(?<=://)([^/\s:@]+):[^/\s@]+@")
# A value: a quoted string, a flat list, or a bare run of characters.
_VALUE = (
    r"""(?P<value>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'"""
    r"""|\[[^\[\]{}]*\]|[^\s&,;{}\[\])'"]+)"""
)
# A quoted key, as in JSON and Python reprs, then : or =, then a value. Bare
# values stop at whitespace and at the separators of query strings, cookie
# lists and JSON.
_QUOTED_PAIR = re.compile(
    r"""(?P<quote>["'])(?P<key>[^"'\s]{1,100})(?P=quote)\s*[:=]\s*""" + _VALUE
)
# A bare key with =, as in key=value log fields and URL query strings. A bare
# key with : is left alone, since prose such as "API token: check it" has one.
_BARE_PAIR = re.compile(r"(?<![\w.-])(?P<key>[A-Za-z_][\w.-]*)=" + _VALUE)
# After these headers the whole rest of the line is the credential, such as
# every pair of a cookie list. The placeholder `Bearer <token>`, which the
# server's own messages quote, is no credential and is kept readable.
_HEADER_LINE = re.compile(
    r"(?<![\w-])(?P<key>(?:proxy-)?authorization|cookie|set-cookie)"
    r"(?P<sep>\s*:\s*)(?!\s)(?!Bearer <token>(?:['\"\s.]|$))[^\r\n]+",
    re.IGNORECASE,
)
_PRIMITIVES = (int, float, bool, type(None))


def redact_text(text: str) -> str:
    """Return `text` with the credentials that it appears to contain replaced."""
    text = _SCHEME_CREDENTIAL.sub(lambda match: f"{match[1]} {REDACTED}", text)
    text = _API_TOKEN.sub(f"gapi_{REDACTED}", text)
    text = _URL_PASSWORD.sub(lambda match: f"{match[1]}:{REDACTED}@", text)
    text = _HEADER_LINE.sub(
        lambda match: f"{match['key']}{match['sep']}{REDACTED}", text
    )
    text = _QUOTED_PAIR.sub(_redact_pair, text)
    return _BARE_PAIR.sub(_redact_pair, text)


def _redact_pair(match: re.Match[str]) -> str:
    key = match["key"]
    if not (is_secret_key(key) or key.lower() in _CREDENTIAL_HEADERS):
        return match[0]
    value = match["value"]
    if value == REDACTED or value.startswith(REDACTED):
        return match[0]
    quote = value[0] if value[:1] in ('"', "'") else ""
    prefix = match[0][: match.start("value") - match.start()]
    return f"{prefix}{quote}{REDACTED}{quote}"


class RedactSecrets(logging.Filter):
    """Replace credentials in a record's message, arguments and traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        # The template itself is redacted only as part of the whole message,
        # since "api_key=%s" would otherwise lose its placeholder.
        record.args = _redact_args(record.args)
        if record.name != "uvicorn.access":
            # uvicorn's access formatter unpacks the five arguments, so its
            # records keep them; each argument was redacted above.
            _redact_whole_message(record)
        if record.exc_info and not record.exc_text:
            formatted = logging.Formatter().formatException(record.exc_info)
            record.exc_text = redact_text(formatted)
        if record.stack_info:
            record.stack_info = redact_text(record.stack_info)
        return True


def _redact_args(args: Any) -> Any:
    if not args:
        return args
    if isinstance(args, Mapping):
        return {key: _redact_arg(value) for key, value in args.items()}
    if isinstance(args, tuple):
        return tuple(_redact_arg(value) for value in args)
    return args


def _redact_arg(value: Any) -> Any:
    if isinstance(value, _PRIMITIVES):
        return value
    if isinstance(value, str):
        return redact_text(value)
    return _RedactedObject(value)


def _redact_whole_message(record: logging.LogRecord) -> None:
    # A credential can span the message and an argument, as in
    # "api_key=%s" % value, which neither part shows alone.
    try:
        message = record.getMessage()
    except (TypeError, ValueError):
        return
    redacted = redact_text(message)
    if redacted != message:
        record.msg = redacted
        record.args = None


class _RedactedObject:
    """An argument that formats as the redacted text of the wrapped object."""

    __slots__ = ("_value",)

    def __init__(self, value: Any) -> None:
        self._value = value

    def __str__(self) -> str:
        return redact_text(str(self._value))

    def __repr__(self) -> str:
        return redact_text(repr(self._value))


_FILTER = RedactSecrets()


def install_log_redaction() -> None:
    """Add the filter to the handlers of the root logger and uvicorn's loggers.

    Adding it twice does nothing; call it again after logging is reconfigured.
    """
    for name in _LOGGERS:
        logger = logging.getLogger(name)
        for handler in logger.handlers:
            if _FILTER not in handler.filters:
                handler.addFilter(_FILTER)
        if name and _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
