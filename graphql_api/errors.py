"""Errors of the GraphQL layer and the schema extension that reports them.

ApiError                      an expected failure, shown to the client as is
├── BadUserInputError         an argument is invalid (BAD_USER_INPUT)
└── AuthenticationError       no usable API token came with the request

Each class carries a stable `code`, which clients read from
``extensions.code``. Any other exception raised while resolving a field is a
bug: `ReportErrors` logs its traceback and replaces it with a generic message
that contains the request id, so that nothing internal reaches the client.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from enum import StrEnum
from typing import Any

from graphql import GraphQLError
from strawberry.extensions import SchemaExtension

logger = logging.getLogger("graphql_api.errors")

# Characters of a client-supplied value that an error message repeats. A
# longer value is truncated there and followed by its length, so that a 10 kB
# cursor or id yields a message of a few lines.
MAX_REPR_LENGTH = 60


class ErrorCode(StrEnum):
    """Values of ``extensions.code`` on top-level GraphQL errors."""

    BAD_USER_INPUT = "BAD_USER_INPUT"
    UNAUTHENTICATED = "UNAUTHENTICATED"
    BAD_REQUEST = "BAD_REQUEST"
    GRAPHQL_PARSE_FAILED = "GRAPHQL_PARSE_FAILED"
    GRAPHQL_VALIDATION_FAILED = "GRAPHQL_VALIDATION_FAILED"
    INTERNAL_SERVER_ERROR = "INTERNAL_SERVER_ERROR"


class ApiError(Exception):
    """Base class of the failures whose message the client receives unchanged."""

    code: ErrorCode = ErrorCode.BAD_REQUEST

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    @property
    def extensions(self) -> dict[str, Any]:
        """The ``extensions`` object of the GraphQL error; graphql-core copies it."""
        return {"code": self.code.value}


class BadUserInputError(ApiError):
    """Raised when an argument is invalid: a malformed id, cursor or page size."""

    code = ErrorCode.BAD_USER_INPUT


class AuthenticationError(ApiError):
    """Raised when the request has no usable API token (HTTP 401)."""

    code = ErrorCode.UNAUTHENTICATED


def truncate_repr(value: object) -> str:
    """Format a client-supplied value for an error message, truncating a long one.

    Returns ``repr(value)`` when the value (or, for a non-string, its repr)
    has at most `MAX_REPR_LENGTH` characters. A longer string becomes the
    repr of its first `MAX_REPR_LENGTH` characters followed by
    ``... (N characters)``, for example ``'abc...'... (10000 characters)``.
    A longer non-string is shown the same way with the start of its repr.
    """
    if isinstance(value, str):
        if len(value) <= MAX_REPR_LENGTH:
            return repr(value)
        return f"{value[:MAX_REPR_LENGTH]!r}... ({len(value)} characters)"
    text = repr(value)
    if len(text) <= MAX_REPR_LENGTH:
        return text
    return f"{text[:MAX_REPR_LENGTH]}... ({len(text)} characters)"


def error_body(message: str, code: ErrorCode) -> dict[str, Any]:
    """Build a GraphQL response body that contains one error and no data."""
    return {"errors": [{"message": message, "extensions": {"code": code.value}}]}


class ReportErrors(SchemaExtension):
    """Give every error an ``extensions.code`` and mask unexpected ones.

    Errors of the parse step get GRAPHQL_PARSE_FAILED and errors of the
    validation step GRAPHQL_VALIDATION_FAILED. Errors without a path that come
    out of execution are variable values that failed to coerce, so they get
    BAD_USER_INPUT. An error raised by a resolver keeps the code of its
    `ApiError`. Anything else is logged with its traceback and replaced by a
    generic INTERNAL_SERVER_ERROR that names the request id.
    """

    def __init__(self) -> None:
        self._step_codes: dict[int, ErrorCode] = {}

    def on_parse(self) -> Iterator[None]:
        yield
        self._label_pending(ErrorCode.GRAPHQL_PARSE_FAILED)

    def on_validate(self) -> Iterator[None]:
        yield
        self._label_pending(ErrorCode.GRAPHQL_VALIDATION_FAILED)

    def on_operation(self) -> Iterator[None]:
        yield
        result = self.execution_context.result
        if result is None or not result.errors:
            return
        result.errors = [self._report(error) for error in result.errors]

    def _label_pending(self, code: ErrorCode) -> None:
        # The code is also set on the error at once: a subscription sends
        # its parse and validation errors without passing `on_operation`.
        for error in self.execution_context.pre_execution_errors or ():
            self._step_codes.setdefault(id(error), code)
            _with_code(error, code)

    def _report(self, error: GraphQLError) -> GraphQLError:
        original = error.original_error
        if isinstance(original, ApiError):
            return error
        step_code = self._step_codes.get(id(error))
        if step_code is not None:
            return _with_code(error, step_code)
        if error.path is None:
            return _with_code(error, ErrorCode.BAD_USER_INPUT)
        return self._mask(error)

    def _mask(self, error: GraphQLError) -> GraphQLError:
        request_id = getattr(self.execution_context.context, "request_id", "unknown")
        logger.error(
            "resolver_failed request_id=%s path=%s error_type=%s",
            request_id,
            ".".join(str(part) for part in error.path or ()),
            type(error.original_error or error).__name__,
            exc_info=error.original_error or error,
        )
        return GraphQLError(
            f"Internal server error (request id {request_id}). The failure was "
            "logged; retry later or report the request id.",
            nodes=error.nodes,
            source=error.source,
            positions=error.positions,
            path=error.path,
            extensions={
                "code": ErrorCode.INTERNAL_SERVER_ERROR.value,
                "requestId": request_id,
            },
        )


def _with_code(error: GraphQLError, code: ErrorCode) -> GraphQLError:
    if not (error.extensions or {}).get("code"):
        error.extensions = {**(error.extensions or {}), "code": code.value}
    return error
