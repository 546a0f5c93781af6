"""Custom scalars: `DateTime` with a mandatory UTC offset, and `JSON`.

`SCALAR_MAP` plugs them into the schema's `StrawberryConfig`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.scalars import JSON
from strawberry.types.scalar import ScalarDefinition

DATETIME_EXAMPLE = "2024-05-01T12:00:00Z"


def serialize_datetime(value: datetime) -> str:
    """Format a timezone-aware datetime as ISO 8601, keeping its offset."""
    if value.tzinfo is None:
        raise ValueError(f"naive datetime {value!r}: expected a timezone-aware value")
    return value.isoformat()


def parse_datetime(value: Any) -> datetime:
    """Parse an ISO 8601 timestamp that carries a UTC offset.

    Raises GraphQLError for a non-string, a malformed timestamp or one without
    an offset, because a timestamp without an offset names no single instant.
    """
    if not isinstance(value, str):
        raise GraphQLError(
            f"DateTime must be a string, got {value!r}: send an ISO 8601 "
            f"timestamp with a UTC offset, such as {DATETIME_EXAMPLE!r}"
        )
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise GraphQLError(
            f"DateTime {value!r} is malformed: expected an ISO 8601 timestamp "
            f"with a UTC offset, such as {DATETIME_EXAMPLE!r}"
        ) from None
    if parsed.tzinfo is None:
        raise GraphQLError(
            f"DateTime {value!r} has no UTC offset: add one, such as 'Z' or "
            f"'+02:00' (example: {DATETIME_EXAMPLE!r})"
        )
    try:
        parsed.astimezone(UTC)
    except OverflowError:
        raise GraphQLError(
            f"DateTime {value!r} falls outside the years 1 to 9999 in UTC: send "
            f"an instant within them, such as {DATETIME_EXAMPLE!r}"
        ) from None
    return parsed


DATETIME = strawberry.scalar(
    name="DateTime",
    description=(
        "An instant in time as an ISO 8601 string with a UTC offset, such as "
        f"`{DATETIME_EXAMPLE}` or `2024-05-01T14:00:00+02:00`. Inputs without "
        "an offset are rejected."
    ),
    specified_by_url="https://datatracker.ietf.org/doc/html/rfc3339",
    serialize=serialize_datetime,
    parse_value=parse_datetime,
)

SCALAR_MAP: dict[object, ScalarDefinition] = {datetime: DATETIME}

__all__ = ["JSON", "SCALAR_MAP", "parse_datetime", "serialize_datetime"]
