"""Column types that behave the same on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Dialect, String, TypeDecorator
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.types import TypeEngine


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp that is stored in UTC and always read back timezone-aware.

    PostgreSQL stores it as ``timestamptz``. SQLite has no timezone type, so the
    value is stored as naive UTC text, which sorts in time order, and the UTC
    offset is attached again on read.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(
        self, value: datetime | None, dialect: Dialect
    ) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(
                f"naive datetime {value!r}: expected a timezone-aware value"
            )
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(
        self, value: datetime | None, dialect: Dialect
    ) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class GUID(TypeDecorator[uuid.UUID]):
    """A UUID: native ``uuid`` on PostgreSQL, 32 hex characters on SQLite."""

    impl = String(32)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> Any:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(UUID(as_uuid=True))
        return dialect.type_descriptor(String(32))

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        if not isinstance(value, uuid.UUID):
            value = uuid.UUID(str(value))
        if dialect.name == "postgresql":
            return value
        return value.hex

    def process_result_value(self, value: Any, dialect: Dialect) -> uuid.UUID | None:
        if value is None:
            return None
        if isinstance(value, uuid.UUID):
            return value
        return uuid.UUID(value)


# JSON documents: JSONB on PostgreSQL, JSON text on SQLite.
JSONDocument = JSON().with_variant(JSONB(), "postgresql")

# PostgreSQL collation of `code_point_string` columns: byte order, which is
# code point order for UTF-8.
CODE_POINT_COLLATION = "C"


def code_point_string(length: int) -> TypeEngine[str]:
    """Return a string type that sorts and matches by code point on both databases.

    SQLite compares text with its BINARY collation, which is code point
    order. PostgreSQL would use the database's default collation, often a
    linguistic one such as en-US where ``"apple" < "Banana"``, and its
    indexes could not serve ``LIKE 'prefix%'``. The "C" collation gives the
    SQLite order and lets a B-tree index serve prefix matches.
    """
    return String(length).with_variant(
        String(length, collation=CODE_POINT_COLLATION), "postgresql"
    )


def utc_now() -> datetime:
    """Return the current time as an aware UTC datetime."""
    return datetime.now(UTC)
