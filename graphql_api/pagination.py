"""Keyset pagination over SQL tables, with opaque cursors.

A page is ordered by the requested sort keys and then by ``id``, which makes
the order total even when sort keys have equal values. A cursor stores the
position of one row: the connection it came from, the order it was made
for, the row's sort key values and its id. The next page starts strictly
after that position, so rows inserted or deleted between two requests
neither shift nor repeat the rows that follow.

When every key sorts in the same direction, the position test is a row-value
comparison such as ``(created_at, id) < (:v, :id)``, which SQLite (3.15 and
later) and PostgreSQL serve from the ``(sort key, id)`` indexes. Mixed
directions expand into the equivalent OR of AND terms.

`total_count`, and the "has a previous page" test after a cursor, each cost
one more query, so both run only when a client selects them.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Generic, TypeVar

import orjson
from sqlalchemy import (
    ColumnElement,
    and_,
    exists,
    func,
    literal,
    or_,
    select,
    tuple_,
)
from sqlalchemy.sql.elements import UnaryExpression
from sqlmodel import SQLModel

from graphql_api.errors import BadUserInputError, truncate_repr
from graphql_api.reads import ReadSource

RowT = TypeVar("RowT", bound=SQLModel)

DEFAULT_PAGE_SIZE = 25
MAX_PAGE_SIZE = 100
_ROW_VALUE_DIALECTS = frozenset({"sqlite", "postgresql"})


class KeyKind(StrEnum):
    """Encoding of a sort key value inside a cursor."""

    DATETIME = "datetime"
    STRING = "string"


@dataclass(frozen=True, slots=True)
class SortKey:
    """One column of an order: `attribute` names the model attribute."""

    attribute: str
    kind: KeyKind
    descending: bool

    @property
    def signature(self) -> str:
        """The key as written into cursors, such as ``created_at:desc``."""
        return f"{self.attribute}:{'desc' if self.descending else 'asc'}"


@dataclass(frozen=True, slots=True)
class CursorPosition:
    """The sort key values and id of the row that a cursor points at."""

    values: tuple[Any, ...]
    row_id: uuid.UUID


@dataclass(frozen=True, slots=True)
class PageWindow:
    """Validated paging arguments: size, direction and cursor positions."""

    limit: int
    backward: bool
    after: CursorPosition | None
    before: CursorPosition | None


@dataclass(slots=True)
class Page(Generic[RowT]):
    """One page of rows with their cursors and lazily computed page facts."""

    rows: list[RowT]
    cursors: list[str]
    has_next_page: Callable[[], Awaitable[bool]]
    has_previous_page: Callable[[], Awaitable[bool]]
    total_count: Callable[[], Awaitable[int]] = field(repr=False)


def order_signature(order: Sequence[SortKey]) -> str:
    """Name an order, so that a cursor made for one order fails on another."""
    return ",".join(key.signature for key in order)


def encode_cursor(connection: str, order: Sequence[SortKey], row: SQLModel) -> str:
    """Build the opaque cursor of `row` in a connection and order."""
    values = [_encode_value(key, getattr(row, key.attribute)) for key in order]
    row_id: uuid.UUID = row.id  # type: ignore[attr-defined]
    payload = [connection, order_signature(order), values, row_id.hex]
    return base64.urlsafe_b64encode(orjson.dumps(payload)).decode("ascii")


def decode_cursor(
    cursor: str, connection: str, order: Sequence[SortKey], argument: str
) -> CursorPosition:
    """Read a cursor back, checking that it belongs to this connection and order.

    Raises BadUserInputError naming `argument` ("after" or "before") when the
    cursor is malformed or was made for another connection or order.
    """
    payload = _decode_payload(cursor, argument)
    cursor_connection, cursor_order, values, row_hex = payload
    if cursor_connection != connection:
        raise BadUserInputError(
            f"Cursor {truncate_repr(cursor)} in `{argument}` belongs to the "
            f"connection {truncate_repr(cursor_connection)}, not {connection!r}: "
            "use a cursor returned by this connection."
        )
    expected_order = order_signature(order)
    if cursor_order != expected_order:
        raise BadUserInputError(
            f"Cursor {truncate_repr(cursor)} in `{argument}` was made for the "
            f"order {truncate_repr(cursor_order)}, but the request orders by "
            f"{expected_order!r}: pass the same orderBy as the request that "
            "returned the cursor."
        )
    if not isinstance(values, list) or len(values) != len(order):
        raise _malformed_cursor(cursor, argument)
    try:
        decoded = tuple(
            _decode_value(key, value) for key, value in zip(order, values, strict=True)
        )
        row_id = uuid.UUID(hex=row_hex)
    except (TypeError, ValueError):
        raise _malformed_cursor(cursor, argument) from None
    return CursorPosition(decoded, row_id)


def _decode_payload(cursor: str, argument: str) -> list[Any]:
    try:
        payload = orjson.loads(base64.urlsafe_b64decode(cursor.encode("ascii")))
    except (UnicodeEncodeError, binascii.Error, orjson.JSONDecodeError, ValueError):
        raise _malformed_cursor(cursor, argument) from None
    if (
        not isinstance(payload, list)
        or len(payload) != 4
        or not all(
            isinstance(part, str) for part in (payload[0], payload[1], payload[3])
        )
    ):
        raise _malformed_cursor(cursor, argument)
    return payload


def _malformed_cursor(cursor: str, argument: str) -> BadUserInputError:
    return BadUserInputError(
        f"Cursor {truncate_repr(cursor)} in `{argument}` is malformed: pass a "
        "cursor exactly as a previous page returned it (edges.cursor or "
        "pageInfo)."
    )


def _encode_value(key: SortKey, value: Any) -> Any:
    if key.kind is KeyKind.DATETIME:
        return value.isoformat()
    return value


def _decode_value(key: SortKey, value: Any) -> Any:
    if not isinstance(value, str):
        raise TypeError(f"cursor value {value!r} is not a string")
    if "\x00" in value:
        # No stored text contains NUL, and PostgreSQL cannot bind one.
        raise ValueError("cursor value contains NUL")
    if key.kind is KeyKind.DATETIME:
        parsed = datetime.fromisoformat(value)
        if parsed.tzinfo is None:
            raise ValueError(f"cursor timestamp {value!r} has no offset")
        try:
            # The database stores UTC; a time beyond year 1 to 9999 there
            # cannot be a stored row's position.
            parsed.astimezone(UTC)
        except OverflowError:
            raise ValueError(f"cursor timestamp {value!r} is out of range") from None
        return parsed
    return value


def read_window(
    *,
    first: int | None,
    after: str | None,
    last: int | None,
    before: str | None,
    connection: str,
    order: Sequence[SortKey],
) -> PageWindow:
    """Validate the Relay paging arguments of one connection field.

    `first` and `last` take 0 to 100 and exclude each other; with neither,
    the page contains the first 25 rows. Raises BadUserInputError otherwise, or
    when a cursor is malformed or belongs elsewhere.
    """
    if first is not None and last is not None:
        raise BadUserInputError(
            f"Pass `first` or `last`, not both (got first={first}, last={last}): "
            "use `first` with `after` to page forward and `last` with `before` "
            "to page backward."
        )
    _check_size("first", first)
    _check_size("last", last)
    backward = last is not None
    limit = last if last is not None else first
    return PageWindow(
        limit=DEFAULT_PAGE_SIZE if limit is None else limit,
        backward=backward,
        after=None
        if after is None
        else decode_cursor(after, connection, order, "after"),
        before=(
            None
            if before is None
            else decode_cursor(before, connection, order, "before")
        ),
    )


def _check_size(argument: str, value: int | None) -> None:
    if value is not None and not 0 <= value <= MAX_PAGE_SIZE:
        raise BadUserInputError(
            f"`{argument}` is {value}, but it must be between 0 and "
            f"{MAX_PAGE_SIZE}: request at most {MAX_PAGE_SIZE} rows per page and "
            "follow the cursors for more."
        )


async def fetch_page(
    database: ReadSource,
    model: type[RowT],
    conditions: Sequence[ColumnElement[bool]],
    order: Sequence[SortKey],
    window: PageWindow,
    connection: str,
) -> Page[RowT]:
    """Run the keyset query of one page of `model` rows.

    `conditions` hold the caller's scope and filter, `order` the requested
    sort keys without ``id``, which this function appends.
    """
    keys = _with_id_key(order)
    columns = [_column(model, key.attribute) for key in keys]
    bounds = _window_bounds(keys, columns, window, database)
    query = (
        select(model)
        .where(*conditions, *bounds)
        .order_by(*_order_clauses(keys, columns, reverse=window.backward))
        .limit(window.limit + 1)
    )
    async with database.read_session() as session:
        rows = list((await session.scalars(query)).all())
    has_more = len(rows) > window.limit
    rows = rows[: window.limit]
    if window.backward:
        rows.reverse()
    return Page(
        rows=rows,
        cursors=[encode_cursor(connection, order, row) for row in rows],
        has_next_page=_has_next_page(
            database, keys, columns, conditions, window, has_more
        ),
        has_previous_page=_has_previous_page(
            database, keys, columns, conditions, window, has_more
        ),
        total_count=_counter(database, model, conditions),
    )


def _column(model: type[SQLModel], attribute: str) -> ColumnElement[Any]:
    column: ColumnElement[Any] = getattr(model, attribute).expression
    return column


def _with_id_key(order: Sequence[SortKey]) -> list[SortKey]:
    # The id breaks ties in the direction of the last key, so that an order
    # whose keys share one direction stays a single row-value comparison.
    descending = order[-1].descending if order else False
    return [*order, SortKey("id", KeyKind.STRING, descending)]


def _position_values(position: CursorPosition) -> tuple[Any, ...]:
    return (*position.values, position.row_id)


def _window_bounds(
    keys: Sequence[SortKey],
    columns: Sequence[ColumnElement[Any]],
    window: PageWindow,
    database: ReadSource,
) -> list[ColumnElement[bool]]:
    dialect = database.engine.dialect.name
    bounds = []
    if window.after is not None:
        values = _position_values(window.after)
        bounds.append(_beyond(keys, columns, values, dialect, forward=True))
    if window.before is not None:
        values = _position_values(window.before)
        bounds.append(_beyond(keys, columns, values, dialect, forward=False))
    return bounds


def _beyond(
    keys: Sequence[SortKey],
    columns: Sequence[ColumnElement[Any]],
    values: Sequence[Any],
    dialect: str,
    *,
    forward: bool,
    inclusive: bool = False,
) -> ColumnElement[bool]:
    """Match rows strictly after (or, with `forward` False, before) a position.

    `inclusive` also matches the row at the position itself.
    """
    bound_values = [
        literal(value, type_=column.type)
        for column, value in zip(columns, values, strict=True)
    ]
    directions = {key.descending for key in keys}
    if len(directions) == 1 and dialect in _ROW_VALUE_DIALECTS:
        goes_up = forward != directions.pop()
        left, right = tuple_(*columns), tuple_(*bound_values)
        if goes_up:
            return left >= right if inclusive else left > right
        return left <= right if inclusive else left < right
    return _expanded_beyond(
        keys, columns, bound_values, forward=forward, inclusive=inclusive
    )


def _expanded_beyond(
    keys: Sequence[SortKey],
    columns: Sequence[ColumnElement[Any]],
    values: Sequence[ColumnElement[Any]],
    *,
    forward: bool,
    inclusive: bool,
) -> ColumnElement[bool]:
    terms = []
    for index, (key, column, value) in enumerate(
        zip(keys, columns, values, strict=True)
    ):
        equal_prefix = [columns[i] == values[i] for i in range(index)]
        goes_up = forward != key.descending
        step = column > value if goes_up else column < value
        terms.append(and_(*equal_prefix, step))
    if inclusive:
        terms.append(and_(*(c == v for c, v in zip(columns, values, strict=True))))
    return or_(*terms)


def _order_clauses(
    keys: Sequence[SortKey], columns: Sequence[ColumnElement[Any]], *, reverse: bool
) -> list[UnaryExpression[Any]]:
    clauses = []
    for key, column in zip(keys, columns, strict=True):
        descending = key.descending != reverse
        clauses.append(column.desc() if descending else column.asc())
    return clauses


def _has_next_page(
    database: ReadSource,
    keys: Sequence[SortKey],
    columns: Sequence[ColumnElement[Any]],
    conditions: Sequence[ColumnElement[bool]],
    window: PageWindow,
    has_more: bool,
) -> Callable[[], Awaitable[bool]]:
    if not window.backward:
        return _constant(has_more)
    if window.before is None:
        return _constant(False)
    # Paging backward: rows exist after this page when the `before` row, or
    # one past it, is still there.
    boundary = _beyond(
        keys,
        columns,
        _position_values(window.before),
        database.engine.dialect.name,
        forward=True,
        inclusive=True,
    )
    return _exists(database, [*conditions, boundary])


def _has_previous_page(
    database: ReadSource,
    keys: Sequence[SortKey],
    columns: Sequence[ColumnElement[Any]],
    conditions: Sequence[ColumnElement[bool]],
    window: PageWindow,
    has_more: bool,
) -> Callable[[], Awaitable[bool]]:
    if window.backward:
        return _constant(has_more)
    if window.after is None:
        return _constant(False)
    boundary = _beyond(
        keys,
        columns,
        _position_values(window.after),
        database.engine.dialect.name,
        forward=False,
        inclusive=True,
    )
    return _exists(database, [*conditions, boundary])


def _constant(value: bool) -> Callable[[], Awaitable[bool]]:
    async def constant() -> bool:
        return value

    return constant


def _exists(
    database: ReadSource, conditions: Sequence[ColumnElement[bool]]
) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        query = select(exists().where(*conditions))
        async with database.read_session() as session:
            return bool(await session.scalar(query))

    return check


def _counter(
    database: ReadSource,
    model: type[SQLModel],
    conditions: Sequence[ColumnElement[bool]],
) -> Callable[[], Awaitable[int]]:
    async def count() -> int:
        query = select(func.count()).select_from(model).where(*conditions)
        async with database.read_session() as session:
            return int(await session.scalar(query) or 0)

    return count
