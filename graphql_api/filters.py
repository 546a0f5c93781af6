"""Translation of filter inputs into SQLAlchemy conditions.

Every function here returns a SQL expression and runs no query, so a caller
can add the result to any statement.

Text matching is case-sensitive on every database. PostgreSQL's LIKE already
is. SQLite's LIKE ignores ASCII case, so on SQLite `startsWith` and
`contains` use GLOB, which compares exactly and can still use an index for a
prefix. User text is escaped for the operator in use: ``*``, ``?`` and ``[``
for GLOB, and ``%``, ``_`` and the escape character for LIKE.

Conditions on nullable columns never evaluate to SQL NULL. `eq` is false for
a row without a value, and `ne` and `notIn` are true for it. Hence `not`
keeps exactly the rows its filter drops.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol, TypeVar

import strawberry
from sqlalchemy import ColumnElement, and_, false, not_, or_, select, true
from sqlalchemy.orm import Mapped
from sqlmodel import col

from db.models import (
    Environment,
    EnvironmentIntegration,
    IntegratedAccount,
    Integration,
)
from graphql_api.errors import BadUserInputError, truncate_repr
from graphql_api.types.enums import stored_value
from graphql_api.types.filters import (
    DateTimeFilter,
    EnumFilter,
    EnvironmentFilter,
    EnvironmentIntegrationFilter,
    IDFilter,
    IntegratedAccountFilter,
    IntegrationFilter,
    StringFilter,
)
from graphql_api.types.node import parse_id

# Deeper nesting of and/or/not is rejected before any SQL is built.
MAX_FILTER_DEPTH = 8
# Maximum number of filter objects in one filter, counting the top one and
# every item of `and`, `or` and `not`. SQLite fails with "Expression tree is
# too large" on an `or` of about 1,000 items, because it nests each OR.
MAX_FILTER_NODES = 100
# Maximum number of values in `in` and `notIn`, because each value is one
# bound parameter.
MAX_LIST_VALUES = 500
# Maximum length of a text filter value. The longest text column stores 500
# characters.
MAX_FILTER_TEXT = 1000

# Columns come from `sqlmodel.col`, which types them as mapped attributes.
Column = Mapped[Any]
FieldRule = Callable[[Any, str], ColumnElement[bool]]
FilterT = TypeVar("FilterT", bound="CombinableFilter")


class CombinableFilter(Protocol):
    """A filter input with the `and`, `or` and `not` fields."""

    @property
    def and_(self) -> Sequence[Any] | None: ...

    @property
    def or_(self) -> Sequence[Any] | None: ...

    @property
    def not_(self) -> Any | None: ...


def escape_glob(text: str) -> str:
    """Escape SQLite GLOB wildcards so that `text` matches only itself."""
    return "".join(f"[{char}]" if char in "*?[" else char for char in text)


def escape_like(text: str, escape: str = "\\") -> str:
    """Escape LIKE wildcards and the escape character itself."""
    return "".join(
        f"{escape}{char}" if char in f"%_{escape}" else char for char in text
    )


def starts_with(column: Column, prefix: str, dialect: str) -> ColumnElement[bool]:
    """Match values that start with `prefix`, comparing case-sensitively."""
    if dialect == "sqlite":
        return column.op("GLOB", is_comparison=True)(escape_glob(prefix) + "*")
    return column.like(escape_like(prefix) + "%", escape="\\")


def contains(column: Column, text: str, dialect: str) -> ColumnElement[bool]:
    """Match values that contain `text`, comparing case-sensitively."""
    if dialect == "sqlite":
        return column.op("GLOB", is_comparison=True)("*" + escape_glob(text) + "*")
    return column.like("%" + escape_like(text) + "%", escape="\\")


def string_condition(
    column: Column, condition: StringFilter, dialect: str
) -> ColumnElement[bool]:
    """Translate a `StringFilter` on a non-nullable text column."""
    parts: list[ColumnElement[bool]] = []
    if _given(condition.eq, "eq"):
        parts.append(column == checked_text(condition.eq, "eq"))
    if _given(condition.ne, "ne"):
        parts.append(column != checked_text(condition.ne, "ne"))
    if _given(condition.in_, "in"):
        values = [checked_text(v, "in") for v in _checked_list(condition.in_, "in")]
        parts.append(column.in_(values))
    if _given(condition.not_in, "notIn"):
        values = [
            checked_text(v, "notIn") for v in _checked_list(condition.not_in, "notIn")
        ]
        parts.append(column.not_in(values))
    if _given(condition.starts_with, "startsWith"):
        prefix = checked_text(condition.starts_with, "startsWith")
        parts.append(starts_with(column, prefix, dialect))
    if _given(condition.contains, "contains"):
        text = checked_text(condition.contains, "contains")
        parts.append(contains(column, text, dialect))
    return and_(true(), *parts)


def checked_text(value: str, operator: str) -> str:
    """Return a text filter value, or raise BadUserInputError for one no row has.

    Stored text never contains NUL (the API rejects control characters, and
    PostgreSQL cannot store NUL), and no text column stores more than
    `MAX_FILTER_TEXT` characters. Such values would either match nothing or
    fail in the database (PostgreSQL's NUL, SQLite's 50,000-byte GLOB
    pattern limit), so they are refused with the same message everywhere.
    """
    if len(value) > MAX_FILTER_TEXT:
        raise BadUserInputError(
            f"Filter operator `{operator}` has a value of {len(value)} characters, "
            f"more than the maximum of {MAX_FILTER_TEXT}: no stored text is that "
            "long, so shorten the value."
        )
    if "\x00" in value:
        raise BadUserInputError(
            f"Filter operator `{operator}` has the value {truncate_repr(value)}, "
            "which contains the character U+0000 (NUL) that no stored text "
            "contains: remove it."
        )
    return value


def id_condition(column: Column, condition: IDFilter) -> ColumnElement[bool]:
    """Translate an `IDFilter`; raises BadUserInputError for a malformed id."""
    parts: list[ColumnElement[bool]] = []
    if condition.eq is not None:
        parts.append(column == parse_id(condition.eq, "eq"))
    if condition.in_ is not None:
        ids = [parse_id(value, "in") for value in _checked_list(condition.in_, "in")]
        parts.append(column.in_(ids))
    return and_(true(), *parts)


def enum_condition(
    column: Column, condition: EnumFilter[Any], *, nullable: bool = False
) -> ColumnElement[bool]:
    """Translate an enum filter; `nullable` columns get two-valued logic."""
    present = column.is_not(None) if nullable else true()
    absent = column.is_(None) if nullable else false()
    parts: list[ColumnElement[bool]] = []
    if condition.eq is not None:
        parts.append(and_(present, column == stored_value(condition.eq)))
    if condition.ne is not None:
        parts.append(or_(absent, column != stored_value(condition.ne)))
    if condition.in_ is not None:
        values = [stored_value(item) for item in _checked_list(condition.in_, "in")]
        parts.append(and_(present, column.in_(values)))
    if condition.not_in is not None:
        values = [
            stored_value(item) for item in _checked_list(condition.not_in, "notIn")
        ]
        parts.append(or_(absent, column.not_in(values)))
    return and_(true(), *parts)


def datetime_condition(
    column: Column, condition: DateTimeFilter
) -> ColumnElement[bool]:
    """Translate a `DateTimeFilter` on a non-nullable timestamp column."""
    comparisons: list[tuple[datetime | None, Callable[[datetime], Any]]] = [
        (condition.eq, column.__eq__),
        (condition.gt, column.__gt__),
        (condition.gte, column.__ge__),
        (condition.lt, column.__lt__),
        (condition.lte, column.__le__),
    ]
    parts = [compare(value) for value, compare in comparisons if value is not None]
    return and_(true(), *parts)


def _given(value: Any, operator: str) -> bool:
    """Tell whether a filter operator was given; raise for an explicit null."""
    if value is strawberry.UNSET:
        return False
    if value is None:
        raise BadUserInputError(
            f"Filter operator `{operator}` is null, but it needs a value: leave "
            f"`{operator}` out to add no condition."
        )
    return True


def _checked_list(values: Sequence[Any], operator: str) -> Sequence[Any]:
    if len(values) > MAX_LIST_VALUES:
        raise BadUserInputError(
            f"`{operator}` lists {len(values)} values, but at most "
            f"{MAX_LIST_VALUES} are allowed: split the request."
        )
    return values


def combine(
    condition: FilterT,
    rules: Mapping[str, FieldRule],
    dialect: str,
    depth: int = 1,
) -> ColumnElement[bool]:
    """Translate one filter object whose fields are translated by `rules`.

    Every given field must hold. `and`, `or` and `not` recurse into nested
    filters of the same type, at most `MAX_FILTER_DEPTH` levels deep.
    """
    if depth == 1:
        _check_node_count(condition)
    if depth > MAX_FILTER_DEPTH:
        raise BadUserInputError(
            f"The filter nests `and`, `or` and `not` more than {MAX_FILTER_DEPTH} "
            "levels deep: flatten it."
        )
    parts = [
        rule(getattr(condition, attribute), dialect)
        for attribute, rule in rules.items()
        if getattr(condition, attribute) is not None
    ]
    if condition.and_ is not None:
        nested = [combine(item, rules, dialect, depth + 1) for item in condition.and_]
        parts.append(and_(true(), *nested))
    if condition.or_ is not None:
        nested = [combine(item, rules, dialect, depth + 1) for item in condition.or_]
        parts.append(or_(false(), *nested))
    if condition.not_ is not None:
        parts.append(not_(combine(condition.not_, rules, dialect, depth + 1)))
    return and_(true(), *parts)


def _check_node_count(condition: CombinableFilter) -> None:
    count = 0
    pending: list[CombinableFilter] = [condition]
    while pending:
        item = pending.pop()
        count += 1
        if count > MAX_FILTER_NODES:
            raise BadUserInputError(
                f"The filter contains more than {MAX_FILTER_NODES} filter objects "
                f"in `and`, `or` and `not`, but at most {MAX_FILTER_NODES} are "
                "allowed: use `in` for lists of values, or split the request."
            )
        pending.extend(item.and_ or ())
        pending.extend(item.or_ or ())
        if item.not_ is not None:
            pending.append(item.not_)


def _string(column: Column) -> FieldRule:
    return lambda condition, dialect: string_condition(column, condition, dialect)


def _id(column: Column) -> FieldRule:
    return lambda condition, _dialect: id_condition(column, condition)


def _enum(column: Column, *, nullable: bool = False) -> FieldRule:
    return lambda condition, _dialect: enum_condition(
        column, condition, nullable=nullable
    )


def _datetime(column: Column) -> FieldRule:
    return lambda condition, _dialect: datetime_condition(column, condition)


def _boolean(column: Column) -> FieldRule:
    return lambda value, _dialect: column == bool(value)


def _through(
    foreign_key: Column, target_id: Column, target_rule: FieldRule
) -> FieldRule:
    """Apply `target_rule` to the row that `foreign_key` points at."""

    def rule(condition: Any, dialect: str) -> ColumnElement[bool]:
        matching = select(target_id).where(target_rule(condition, dialect))
        return foreign_key.in_(matching.scalar_subquery())

    return rule


_account_integration = col(IntegratedAccount.integration_id)

INTEGRATED_ACCOUNT_RULES: Mapping[str, FieldRule] = {
    "id": _id(col(IntegratedAccount.id)),
    "tenant_id": _string(col(IntegratedAccount.tenant_id)),
    "is_sandbox": _boolean(col(IntegratedAccount.is_sandbox)),
    "integration_id": _id(_account_integration),
    "integration_name": _through(
        _account_integration, col(Integration.id), _string(col(Integration.name))
    ),
    "integration_category": _through(
        _account_integration, col(Integration.id), _string(col(Integration.category))
    ),
    "environment_id": _id(col(IntegratedAccount.environment_id)),
    "environment_integration_id": _id(
        col(IntegratedAccount.environment_integration_id)
    ),
    "super_query": _enum(col(IntegratedAccount.super_query), nullable=True),
    "status": _enum(col(IntegratedAccount.status)),
    "authentication_method": _enum(
        col(IntegratedAccount.authentication_method), nullable=True
    ),
    "region": _enum(col(IntegratedAccount.region)),
    "created_at": _datetime(col(IntegratedAccount.created_at)),
    "updated_at": _datetime(col(IntegratedAccount.updated_at)),
}

INTEGRATION_RULES: Mapping[str, FieldRule] = {
    "id": _id(col(Integration.id)),
    "name": _string(col(Integration.name)),
    "category": _string(col(Integration.category)),
    "is_beta": _boolean(col(Integration.is_beta)),
    "sharing": _enum(col(Integration.sharing)),
    "created_at": _datetime(col(Integration.created_at)),
    "updated_at": _datetime(col(Integration.updated_at)),
}

ENVIRONMENT_INTEGRATION_RULES: Mapping[str, FieldRule] = {
    "id": _id(col(EnvironmentIntegration.id)),
    "integration_id": _id(col(EnvironmentIntegration.integration_id)),
    "integration_name": _through(
        col(EnvironmentIntegration.integration_id),
        col(Integration.id),
        _string(col(Integration.name)),
    ),
    "environment_id": _id(col(EnvironmentIntegration.environment_id)),
    "is_enabled": _boolean(col(EnvironmentIntegration.is_enabled)),
    "show_in_catalog": _boolean(col(EnvironmentIntegration.show_in_catalog)),
    "created_at": _datetime(col(EnvironmentIntegration.created_at)),
    "updated_at": _datetime(col(EnvironmentIntegration.updated_at)),
}

ENVIRONMENT_RULES: Mapping[str, FieldRule] = {
    "id": _id(col(Environment.id)),
    "name": _string(col(Environment.name)),
    "created_at": _datetime(col(Environment.created_at)),
    "updated_at": _datetime(col(Environment.updated_at)),
}


def integrated_account_condition(
    condition: IntegratedAccountFilter | None, dialect: str
) -> ColumnElement[bool]:
    """Translate an `IntegratedAccountFilter`; no filter matches every row."""
    if condition is None:
        return true()
    return combine(condition, INTEGRATED_ACCOUNT_RULES, dialect)


def integration_condition(
    condition: IntegrationFilter | None, dialect: str
) -> ColumnElement[bool]:
    """Translate an `IntegrationFilter`; no filter matches every row."""
    if condition is None:
        return true()
    return combine(condition, INTEGRATION_RULES, dialect)


def environment_integration_condition(
    condition: EnvironmentIntegrationFilter | None, dialect: str
) -> ColumnElement[bool]:
    """Translate an `EnvironmentIntegrationFilter`; no filter matches every row."""
    if condition is None:
        return true()
    return combine(condition, ENVIRONMENT_INTEGRATION_RULES, dialect)


def environment_condition(
    condition: EnvironmentFilter | None, dialect: str
) -> ColumnElement[bool]:
    """Translate an `EnvironmentFilter`; no filter matches every row."""
    if condition is None:
        return true()
    return combine(condition, ENVIRONMENT_RULES, dialect)
