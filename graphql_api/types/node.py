"""The `Node` interface and the parsing of record ids."""

from __future__ import annotations

import uuid
from typing import TypeVar

import strawberry

from graphql_api.errors import BadUserInputError, truncate_repr

RowT = TypeVar("RowT")


@strawberry.interface(
    description=(
        "A record that can be fetched by id with `node` or `nodes`. The id is "
        "the record's UUID, the same value that the REST API and the database use."
    )
)
class Node:
    id: strawberry.ID = strawberry.field(description="The record's UUID.")


def parse_id(value: str, argument: str = "id") -> uuid.UUID:
    """Parse a record id, raising BadUserInputError that names `argument`.

    Accepts the UUID forms that Python's `uuid.UUID` reads, such as the
    hyphenated form or 32 hex digits.
    """
    try:
        return uuid.UUID(value)
    except (ValueError, TypeError, AttributeError):
        raise BadUserInputError(
            f"`{argument}` value {truncate_repr(value)} is not a valid id: "
            "expected a UUID such as '0b5e2a5c-2f4e-4f8e-9a53-1c3d6a4c2b10'."
        ) from None


def require_row(row: RowT | None, table: str, row_id: uuid.UUID) -> RowT:
    """Return a row that a visible row refers to, or raise LookupError.

    A referenced row is visible whenever the row that refers to it is visible
    (see `graphql_api.auth`). A missing one means that the data broke this
    rule, and the error reaches the client as a masked internal error.
    """
    if row is None:
        raise LookupError(f"{table} {row_id} is referenced but not visible")
    return row
