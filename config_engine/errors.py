"""Errors raised by the config engine.

EngineError
├── ConfigError               the config itself is wrong (carries a JSON path)
│   └── PlaceholderError      a required placeholder resolved to nothing
├── JsonataError              a JSONata expression failed to compile or evaluate
├── InvalidCursorError        a pagination cursor from the caller cannot be used
├── SandboxWriteError         a write was requested on a sandbox account
├── EngineSettingError        an environment variable of the engine is invalid
└── UpstreamError             the upstream API returned a failure
    ├── AuthenticationError   credentials are dead: the account needs reauthorization
    ├── ForbiddenError        credentials work but lack permission or scopes
    ├── NotFoundError         the upstream resource does not exist
    ├── RateLimitedError      the upstream rate limit was hit and retries ran out
    └── UpstreamUnavailableError  a transient failure: 5xx, timeout, unparsable response

No message or attribute contains a credential value.
"""

from __future__ import annotations

from collections.abc import Sequence


class EngineError(Exception):
    """Base class of every error the config engine raises."""

    code = "ENGINE_ERROR"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ConfigError(EngineError):
    """Raised when an integration config is invalid or cannot run.

    `path` is the dotted JSON path of the offending value, such as
    ``resources.users.list.pagination.config.cursor_path``.
    """

    code = "INVALID_CONFIG"

    def __init__(self, message: str, path: str = "") -> None:
        super().__init__(f"{path}: {message}" if path else message)
        self.path = path
        self.reason = message


class PlaceholderError(ConfigError):
    """Raised when a required placeholder, in a URL or a credential, is empty."""

    code = "MISSING_PLACEHOLDER_VALUE"

    def __init__(self, placeholder: str, path: str = "") -> None:
        super().__init__(
            f"placeholder {{{{{placeholder}}}}} resolved to nothing; "
            "set the value in the account context or the environment variables",
            path,
        )
        self.placeholder = placeholder


class JsonataError(EngineError):
    """Raised when a JSONata expression fails to compile or to evaluate.

    `jsonata_code` is JSONata's own error code (``S0201``, ``T2010``, ``D1012``)
    or one of this engine's: ``TIMEOUT``, ``DEPTH``, ``SEQUENCE_LENGTH``.
    """

    code = "JSONATA_ERROR"

    def __init__(
        self,
        message: str,
        jsonata_code: str,
        position: int | None = None,
        expression: str | None = None,
    ) -> None:
        super().__init__(f"{jsonata_code}: {message}")
        self.jsonata_code = jsonata_code
        self.position = position
        self.expression = expression


class UpstreamError(EngineError):
    """Raised when the upstream API returns a failure.

    `status` is the upstream HTTP status, or None when no response arrived.
    """

    code = "UPSTREAM_ERROR"

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class AuthenticationError(UpstreamError):
    """Raised when the credentials are rejected for good (401, ``invalid_grant``)."""

    code = "AUTHENTICATION_ERROR"


class ForbiddenError(UpstreamError):
    """Raised on 403: the credentials work but lack a permission or a scope."""

    code = "FORBIDDEN"

    def __init__(
        self,
        message: str,
        status: int | None = 403,
        missing_scopes: Sequence[str] = (),
    ) -> None:
        super().__init__(message, status)
        self.missing_scopes = list(missing_scopes)


class NotFoundError(UpstreamError):
    """Raised when the upstream resource does not exist (404)."""

    code = "NOT_FOUND"


class RateLimitedError(UpstreamError):
    """Raised when the upstream rate limit was hit and the retries ran out.

    `retry_after` is in seconds; `reset` is an epoch time in seconds.
    """

    code = "RATE_LIMITED"

    def __init__(
        self,
        message: str,
        status: int | None = 429,
        retry_after: float | None = None,
        limit: int | None = None,
        remaining: int | None = None,
        reset: float | None = None,
    ) -> None:
        super().__init__(message, status)
        self.retry_after = retry_after
        self.limit = limit
        self.remaining = remaining
        self.reset = reset


class UpstreamUnavailableError(UpstreamError):
    """Raised on a transient failure: 5xx, a timeout, a connection error or a
    response that cannot be parsed. Retrying later may succeed."""

    code = "UPSTREAM_UNAVAILABLE"


class InvalidCursorError(EngineError):
    """Raised when a pagination cursor passed back by the caller is malformed,
    belongs to another pagination format, or points outside the base URL's
    origin. The caller should restart from the first page."""

    code = "INVALID_CURSOR"


class SandboxWriteError(EngineError):
    """Raised when a write (POST, PUT, PATCH, DELETE) is requested on a sandbox
    account outside the account's own lifecycle calls."""

    code = "SANDBOX_WRITE_REJECTED"

    def __init__(self, message: str, method: str) -> None:
        super().__init__(message)
        self.method = method


class EngineSettingError(EngineError):
    """Raised when an environment variable that configures the engine, such as
    ``JSONATA_ENGINE``, has an invalid value. The message names the variable,
    the value and the allowed values."""

    code = "INVALID_ENGINE_SETTING"
