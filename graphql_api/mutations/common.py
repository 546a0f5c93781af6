"""User errors: the expected failures that mutations return as data.

A mutation step raises `MutationRejected` with one or more `UserError`s.
Raised inside a write session, it rolls the transaction back, so a rejected
mutation changes nothing. The resolver then returns the errors in the
payload's ``userErrors`` list.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from enum import Enum
from typing import Any

import strawberry

logger = logging.getLogger("graphql_api.mutations")


@strawberry.enum(description="Stable codes of the expected mutation failures.")
class UserErrorCode(Enum):
    NOT_FOUND = strawberry.enum_value(
        "NOT_FOUND",
        description="No such record, or the token may not read it.",
    )
    INVALID_CONFIG = strawberry.enum_value(
        "INVALID_CONFIG",
        description="The integration config or override is invalid at `field`.",
    )
    VERSION_CONFLICT = strawberry.enum_value(
        "VERSION_CONFLICT",
        description="The record changed since the given version was read.",
    )
    ALREADY_EXISTS = strawberry.enum_value(
        "ALREADY_EXISTS",
        description="Another record already uses this unique value.",
    )
    BAD_USER_INPUT = strawberry.enum_value(
        "BAD_USER_INPUT",
        description="An input value is invalid.",
    )
    FORBIDDEN = strawberry.enum_value(
        "FORBIDDEN",
        description="The token may read the record but not make this change.",
    )
    INVALID_CREDENTIALS = strawberry.enum_value(
        "INVALID_CREDENTIALS",
        description="The upstream rejected the credentials (401, invalid_grant).",
    )
    MISSING_PERMISSIONS = strawberry.enum_value(
        "MISSING_PERMISSIONS",
        description="The credentials work but lack an upstream permission or "
        "scope (403).",
    )
    UPSTREAM_UNAVAILABLE = strawberry.enum_value(
        "UPSTREAM_UNAVAILABLE",
        description="The upstream failed for now (5xx, timeout, connection "
        "error); retrying later may succeed.",
    )
    RATE_LIMITED = strawberry.enum_value(
        "RATE_LIMITED",
        description="The upstream rate limit was hit and the retries ran out.",
    )
    UPSTREAM_ERROR = strawberry.enum_value(
        "UPSTREAM_ERROR",
        description="The upstream answered with another error, such as 404.",
    )
    ACCOUNT_BUSY = strawberry.enum_value(
        "ACCOUNT_BUSY",
        description="Another lifecycle run held the account for too long. Retry later.",
    )


@strawberry.type(description="An expected failure of a mutation.")
class UserError:
    field: list[str] | None = strawberry.field(
        description="Path to the input value at fault, such as "
        '`["input", "config", "resources", "users"]`; null when no single '
        "value is at fault."
    )
    message: str = strawberry.field(
        description="What is wrong and how to fix it, in English."
    )
    code: UserErrorCode = strawberry.field(description="Stable error code.")


class MutationRejected(Exception):
    """Raised by a mutation step to return user errors instead of a change."""

    def __init__(self, errors: Sequence[UserError]) -> None:
        super().__init__("; ".join(error.message for error in errors))
        self.errors = list(errors)


def reject(code: UserErrorCode, message: str, *field: str) -> MutationRejected:
    """Build the exception for a single user error at the input path `field`."""
    path = list(field) if field else None
    return MutationRejected([UserError(field=path, message=message, code=code)])


def not_found(kind: str, record_id: Any, *field: str) -> MutationRejected:
    """Build the NOT_FOUND rejection, the same for missing and foreign ids."""
    return reject(
        UserErrorCode.NOT_FOUND,
        f"No {kind} with id {str(record_id)!r} exists, or the token may not "
        "read it: check the id.",
        *field,
    )


_INDEX = re.compile(r"\[(\d+)\]")


def json_path_parts(path: str) -> list[str]:
    """Split a dotted JSON path, with ``[n]`` list indices, into parts.

    ``resources.users.list`` gives ``["resources", "users", "list"]`` and
    ``credentials.config.fields[0].name`` gives ``[..., "fields", "0",
    "name"]``. The empty path, the document root, gives no parts.
    """
    if not path:
        return []
    return [part for part in _INDEX.sub(r".\1", path).split(".") if part]


def log_rejected(mutation: str, request_id: str, rejected: MutationRejected) -> None:
    """Log one line for a rejected mutation, with its codes and fields."""
    logger.info(
        "mutation_rejected mutation=%s request_id=%s codes=%s fields=%s",
        mutation,
        request_id,
        ",".join(error.code.name for error in rejected.errors),
        ";".join(".".join(error.field or ()) for error in rejected.errors),
    )


def log_applied(mutation: str, request_id: str, record_id: Any) -> None:
    """Log one line for a mutation that changed a record."""
    logger.info(
        "mutation_applied mutation=%s request_id=%s id=%s",
        mutation,
        request_id,
        record_id,
    )
