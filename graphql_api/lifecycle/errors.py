"""Problems that lifecycle operations report, and how engine errors map to them.

A `Problem` is an expected failure with a stable code that the mutations
return in ``userErrors``. `LifecycleRejected` carries problems found before
anything was stored. A run that did store a result returns its problems next
to the account instead of raising.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from config_engine.errors import (
    AuthenticationError,
    ConfigError,
    EngineError,
    ForbiddenError,
    JsonataError,
    RateLimitedError,
    UpstreamError,
    UpstreamUnavailableError,
)


class ProblemCode(StrEnum):
    """Stable codes of lifecycle problems; the GraphQL `UserErrorCode` has each."""

    NOT_FOUND = "NOT_FOUND"
    BAD_USER_INPUT = "BAD_USER_INPUT"
    INVALID_CONFIG = "INVALID_CONFIG"
    INVALID_CREDENTIALS = "INVALID_CREDENTIALS"
    MISSING_PERMISSIONS = "MISSING_PERMISSIONS"
    UPSTREAM_UNAVAILABLE = "UPSTREAM_UNAVAILABLE"
    RATE_LIMITED = "RATE_LIMITED"
    UPSTREAM_ERROR = "UPSTREAM_ERROR"
    ACCOUNT_BUSY = "ACCOUNT_BUSY"


@dataclass(frozen=True, slots=True)
class Problem:
    """One expected failure. `field` is the input path at fault, if any."""

    code: ProblemCode
    message: str
    field: tuple[str, ...] | None = None


class LifecycleRejected(Exception):
    """Raised when an operation fails before it stores anything."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        super().__init__("; ".join(problem.message for problem in problems))
        self.problems = list(problems)


def reject(code: ProblemCode, message: str, *field: str) -> LifecycleRejected:
    """Build the rejection for one problem at the input path `field`."""
    return LifecycleRejected([Problem(code, message, tuple(field) or None)])


def not_found(kind: str, record_id: object, *field: str) -> LifecycleRejected:
    """Build the NOT_FOUND rejection, the same for missing and foreign ids."""
    return reject(
        ProblemCode.NOT_FOUND,
        f"No {kind} with id {str(record_id)!r} exists, or the token may not "
        "read it: check the id.",
        *field,
    )


def is_transient(error: EngineError) -> bool:
    """Tell whether retrying later may succeed: a rate limit, a 5xx or a timeout."""
    return isinstance(error, RateLimitedError | UpstreamUnavailableError)


def problem_code(error: EngineError) -> ProblemCode:
    """Return the problem code of an engine error."""
    if isinstance(error, AuthenticationError):
        return ProblemCode.INVALID_CREDENTIALS
    if isinstance(error, ForbiddenError):
        return ProblemCode.MISSING_PERMISSIONS
    if isinstance(error, RateLimitedError):
        return ProblemCode.RATE_LIMITED
    if isinstance(error, UpstreamUnavailableError):
        return ProblemCode.UPSTREAM_UNAVAILABLE
    if isinstance(error, UpstreamError):
        return ProblemCode.UPSTREAM_ERROR
    if isinstance(error, ConfigError | JsonataError):
        return ProblemCode.INVALID_CONFIG
    return ProblemCode.INVALID_CONFIG


def step_problem(step: str, error: EngineError) -> Problem:
    """Describe an engine error that ended the lifecycle step `step`."""
    return Problem(problem_code(error), f"{step} failed: {error.message}")
