"""Stored column values: binding them into SQL and reading them into JSON.

The compiled reads talk to the database drivers directly, without
SQLAlchemy's column types, so this module does what `db.types` does for the
ORM: a UUID is 32 hex digits on SQLite and a native ``uuid`` on PostgreSQL,
and a timestamp is naive UTC text on SQLite and a ``timestamptz`` on
PostgreSQL. Reading turns each stored value into the JSON value that the
GraphQL types serialize, so that both read paths return the same bytes.

A reader raises `Unreadable` for a value it cannot convert exactly (an enum
value that the schema does not know, a timestamp in another format), and
binding raises `Unbindable` for a request value without a stored form. The
request then runs through the GraphQL executor, which reports it as usual.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from enum import Enum
from typing import Any

# Length of a `DateTime` as SQLAlchemy stores it on SQLite, with a four-digit
# year and six fractional digits.
_SQLITE_TIME_LENGTH = len("2024-01-01 00:00:00.000000")

Reader = Callable[[Any], Any]


class Unreadable(Exception):
    """Raised for a stored value that the compiled read cannot convert exactly."""


class Unbindable(Exception):
    """Raised for a request value without a stored form, such as a time past 9999."""


class Dialect:
    """Binds values in the stored form of one database."""

    def __init__(self, name: str) -> None:
        if name not in ("sqlite", "postgresql"):
            raise ValueError(
                f"database dialect {name!r} has no compiled reads: expected "
                "'sqlite' or 'postgresql'"
            )
        self.name = name
        self.sqlite = name == "sqlite"

    def placeholder(self, position: int) -> str:
        """Return the placeholder of the parameter at 1-based `position`."""
        return "?" if self.sqlite else f"${position}"

    def stored_id(self, value: uuid.UUID) -> Any:
        """Return a UUID as the `GUID` column type stores it."""
        return value.hex if self.sqlite else value

    def stored_time(self, value: datetime) -> Any:
        """Return an aware timestamp as the `UTCDateTime` column type stores it.

        Raises Unbindable for a time that falls outside the years 1 to 9999
        once converted to UTC.
        """
        try:
            utc = value.astimezone(UTC)
        except OverflowError:
            raise Unbindable(f"timestamp {value!r} is out of range in UTC") from None
        if not self.sqlite:
            return utc
        # `isoformat` pads the year to four digits, as SQLAlchemy's SQLite
        # storage format does, where `strftime("%Y")` on glibc prints "999".
        return utc.replace(tzinfo=None).isoformat(" ", timespec="microseconds")

    def stored_bool(self, value: bool) -> Any:
        """Return a boolean as the column stores it."""
        return int(value) if self.sqlite else value

    def id_reader(self) -> Reader:
        """Read a stored UUID as the hyphenated text of `strawberry.ID`."""
        return _sqlite_id if self.sqlite else _postgres_id

    def time_reader(self) -> Reader:
        """Read a stored timestamp as ISO 8601 text with ``+00:00``."""
        return _sqlite_time if self.sqlite else _postgres_time

    def time_value_reader(self) -> Callable[[Any], datetime]:
        """Read a stored timestamp as an aware datetime, for cursors."""
        return _sqlite_datetime if self.sqlite else _postgres_datetime


def _sqlite_id(value: Any) -> str:
    if type(value) is not str or len(value) != 32:
        raise Unreadable(f"stored id {value!r} is not 32 hex digits")
    return str(uuid.UUID(hex=value))


def _postgres_id(value: Any) -> str:
    return str(value)


def _sqlite_datetime(value: Any) -> datetime:
    if type(value) is not str:
        raise Unreadable(f"stored timestamp {value!r} is not text")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise Unreadable(f"stored timestamp {value!r} is malformed") from None
    if parsed.tzinfo is not None:
        raise Unreadable(f"stored timestamp {value!r} has an offset")
    return parsed.replace(tzinfo=UTC)


def _sqlite_time(value: Any) -> str:
    # The common form, with six fractional digits, is rearranged as text.
    # Any other form goes through datetime, because `isoformat` prints it the
    # same way as the GraphQL `DateTime` scalar does.
    if type(value) is str and len(value) == _SQLITE_TIME_LENGTH and value[10] == " ":
        fraction = value[19:]
        if fraction == ".000000":
            return f"{value[:10]}T{value[11:19]}+00:00"
        return f"{value[:10]}T{value[11:]}+00:00"
    return _sqlite_datetime(value).isoformat()


def _postgres_datetime(value: Any) -> datetime:
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise Unreadable(f"stored timestamp {value!r} is not timezone-aware")
    return value.astimezone(UTC)


def _postgres_time(value: Any) -> str:
    # asyncpg returns timestamptz values in UTC already; converting them
    # again would only build a copy.
    if type(value) is datetime and value.tzinfo is UTC:
        return value.isoformat()
    return _postgres_datetime(value).isoformat()


def nullable(reader: Reader) -> Reader:
    """Wrap `reader` so that a stored NULL reads as JSON null."""

    def read(value: Any) -> Any:
        return None if value is None else reader(value)

    return read


def enum_reader(enum_type: type[Enum]) -> Reader:
    """Read a stored enum value (``needs_reauth``) as its GraphQL name."""
    names: Mapping[Any, str] = {member.value: member.name for member in enum_type}

    def read(value: Any) -> str:
        try:
            return names[value]
        except (KeyError, TypeError):
            raise Unreadable(
                f"stored value {value!r} is not a member of {enum_type.__name__}"
            ) from None

    return read


def bool_reader(value: Any) -> bool:
    """Read a stored boolean (0 or 1 on SQLite)."""
    if value in (0, 1):
        return bool(value)
    raise Unreadable(f"stored boolean {value!r} is neither 0 nor 1")


def text_reader(value: Any) -> str:
    """Read stored text."""
    if type(value) is not str:
        raise Unreadable(f"stored text {value!r} is not a string")
    return value


def int_reader(value: Any) -> int:
    """Read a stored integer."""
    if type(value) is not int:
        raise Unreadable(f"stored integer {value!r} is not an integer")
    return value
