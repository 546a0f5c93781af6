"""Readers for the fields of Truto's REST records.

Each reader takes the record and a field name and returns the typed value,
or raises FieldError with a message that names the value and what was
expected. A missing field or a JSON null returns the default.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, TypeVar

_Enum = TypeVar("_Enum", bound=StrEnum)

Record = Mapping[str, Any]


class FieldError(ValueError):
    """Raised when a field contains a value of the wrong type or form."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def read_uuid(record: Record, field: str) -> uuid.UUID | None:
    """Read an optional UUID written as a string."""
    value = record.get(field)
    if value is None:
        return None
    if isinstance(value, str):
        try:
            return uuid.UUID(value)
        except ValueError:
            pass
    raise FieldError(field, f"{value!r} is invalid: expected a UUID string")


def read_text(
    record: Record, field: str, *, max_length: int | None, required: bool = False
) -> str | None:
    """Read an optional string of at most `max_length` characters (None: any)."""
    value = record.get(field)
    if value is None:
        if required:
            raise FieldError(field, "missing: expected a non-empty string")
        return None
    if not isinstance(value, str) or (required and not value.strip()):
        raise FieldError(field, f"{value!r} is invalid: expected a non-empty string")
    if max_length is not None and len(value) > max_length:
        raise FieldError(
            field,
            f"value of {len(value)} characters is too long: "
            f"expected at most {max_length}",
        )
    return value


def read_bool(record: Record, field: str, default: bool) -> bool:
    """Read a JSON boolean, or `default` when the field is missing."""
    value = record.get(field)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise FieldError(field, f"{value!r} is invalid: expected true or false")
    return value


def read_int(record: Record, field: str, *, minimum: int) -> int | None:
    """Read an optional whole number of at least `minimum`."""
    value = record.get(field)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise FieldError(
            field, f"{value!r} is invalid: expected a whole number >= {minimum}"
        )
    return value


def read_object(record: Record, field: str) -> dict[str, Any] | None:
    """Read an optional JSON object."""
    value = record.get(field)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise FieldError(field, f"{_describe(value)} is invalid: expected an object")
    return value


def read_enum(record: Record, field: str, enum: type[_Enum]) -> _Enum | None:
    """Read an optional value of `enum`, spelled as its lower-case value."""
    value = record.get(field)
    if value is None:
        return None
    try:
        return enum(value)
    except ValueError:
        allowed = ", ".join(member.value for member in enum)
        raise FieldError(
            field, f"{value!r} is invalid: expected one of {allowed}"
        ) from None


def read_timestamp(record: Record, field: str) -> datetime | None:
    """Read an optional ISO 8601 timestamp; one without an offset is UTC.

    Truto writes both ``2021-08-10T10:00:00.000Z`` and ``2024-09-01 10:00:00``.
    """
    value = record.get(field)
    if value is None:
        return None
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            pass
        else:
            if parsed.tzinfo is None:
                return parsed.replace(tzinfo=UTC)
            return parsed.astimezone(UTC)
    raise FieldError(
        field,
        f"{value!r} is invalid: expected an ISO 8601 timestamp such as "
        "'2024-09-01T10:00:00Z'",
    )


def _describe(value: Any) -> str:
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str | int | float | bool):
        return repr(value)
    return type(value).__name__
