"""The SQL text of a compiled page query, with its parameters.

The statement mirrors what the GraphQL resolvers ask of SQLAlchemy
(`graphql_api.filters`, `graphql_api.pagination`, `graphql_api.auth`):

- the token's scope, written as a subquery on ``api_token`` so that the same
  statement checks that the token exists, is not revoked and has not
  expired. A page that comes back empty therefore proves nothing about the
  token, and the caller runs the request through the executor instead;
- the filter, translated operator by operator with the same rules: case-
  sensitive text matching (GLOB on SQLite, LIKE with escapes on PostgreSQL),
  two-valued logic on nullable enum columns, empty `in` lists;
- the keyset condition of the `after` cursor, as a row-value comparison
  when every sort key has one direction;
- the order by the sort keys and then by id, and a LIMIT one past the page.

Any input that the resolvers would reject (an explicit null operator, a
malformed id, too many values, too deep a filter) raises `NeedsExecutor`,
and the executor then reports it with its usual message.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from enum import Enum
from typing import Any

from graphql_api.compiled.values import Dialect
from graphql_api.errors import BadUserInputError
from graphql_api.filters import (
    MAX_FILTER_DEPTH,
    MAX_FILTER_NODES,
    MAX_LIST_VALUES,
    checked_text,
    escape_glob,
    escape_like,
)
from graphql_api.pagination import CursorPosition, SortKey
from graphql_api.types.node import parse_id

# Maximum length in bytes of a GLOB pattern that SQLite accepts in its default
# build (SQLITE_LIMIT_LIKE_PATTERN_LENGTH). A longer one fails the statement
# with "LIKE or GLOB pattern too complex".
SQLITE_MAX_PATTERN_BYTES = 50_000


class NeedsExecutor(Exception):
    """Raised for a request that the compiled read leaves to the executor."""


class Statement:
    """Collects SQL parameters and hands out their placeholders."""

    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect
        self.parameters: list[Any] = []

    def bind(self, value: Any) -> str:
        """Add a parameter and return its placeholder.

        Raises NeedsExecutor for text with a NUL character on PostgreSQL,
        whose text types cannot contain one.
        """
        if not self.dialect.sqlite and isinstance(value, str) and "\x00" in value:
            raise NeedsExecutor
        self.parameters.append(value)
        return self.dialect.placeholder(len(self.parameters))

    def bind_all(self, values: Sequence[Any]) -> str:
        """Bind each value and return the comma-separated placeholders."""
        return ", ".join(self.bind(value) for value in values)


def token_scope(
    statement: Statement, column: str, token_hash: str, now: datetime
) -> str:
    """Match rows whose environment `column` a valid token may read."""
    moment = statement.dialect.stored_time(now)
    return (
        f"{column} IN (SELECT env.id FROM environment env "
        "JOIN api_token tok ON tok.team_id = env.team_id "
        f"WHERE tok.token_hash = {statement.bind(token_hash)} "
        "AND (tok.environment_id IS NULL OR tok.environment_id = env.id) "
        f"AND (tok.revoked_at IS NULL OR tok.revoked_at > {statement.bind(moment)}) "
        f"AND (tok.expires_at IS NULL OR tok.expires_at > {statement.bind(moment)}))"
    )


# -- filters -----------------------------------------------------------------

Rule = Callable[[Statement, Any], str]


def _string_rule(column: str) -> Rule:
    def rule(statement: Statement, condition: Mapping[str, Any]) -> str:
        parts: list[str] = []
        for operator, value in condition.items():
            if value is None:
                raise NeedsExecutor
            _check_texts(value, operator)
            parts.append(_string_part(statement, column, operator, value))
        return _all(parts)

    return rule


def _check_texts(value: Any, operator: str) -> None:
    """Leave values that the executor refuses (`checked_text`) to the executor."""
    try:
        for text in value if isinstance(value, list) else [value]:
            checked_text(text, operator)
    except BadUserInputError:
        raise NeedsExecutor from None


def _string_part(statement: Statement, column: str, operator: str, value: Any) -> str:
    sqlite = statement.dialect.sqlite
    if operator == "eq":
        return f"{column} = {statement.bind(value)}"
    if operator == "ne":
        return f"{column} <> {statement.bind(value)}"
    if operator == "in":
        return _in_list(statement, column, _checked(value), negate=False)
    if operator == "notIn":
        return _in_list(statement, column, _checked(value), negate=True)
    if operator == "startsWith":
        if sqlite:
            return f"{column} GLOB {_glob(statement, escape_glob(value) + '*')}"
        pattern = statement.bind(escape_like(value) + "%")
        return f"{column} LIKE {pattern} ESCAPE '\\'"
    if operator == "contains":
        if sqlite:
            return f"{column} GLOB {_glob(statement, '*' + escape_glob(value) + '*')}"
        pattern = statement.bind("%" + escape_like(value) + "%")
        return f"{column} LIKE {pattern} ESCAPE '\\'"
    raise NeedsExecutor


def _glob(statement: Statement, pattern: str) -> str:
    if len(pattern.encode("utf-8")) > SQLITE_MAX_PATTERN_BYTES:
        raise NeedsExecutor
    return statement.bind(pattern)


def _id_rule(column: str) -> Rule:
    def rule(statement: Statement, condition: Mapping[str, Any]) -> str:
        parts: list[str] = []
        if condition.get("eq") is not None:
            parts.append(
                f"{column} = {statement.bind(_stored_id(statement, condition['eq']))}"
            )
        if condition.get("in") is not None:
            ids = [_stored_id(statement, value) for value in _checked(condition["in"])]
            parts.append(_in_list(statement, column, ids, negate=False))
        return _all(parts)

    return rule


def _stored_id(statement: Statement, value: Any) -> Any:
    try:
        parsed: uuid.UUID = parse_id(value)
    except BadUserInputError:
        raise NeedsExecutor from None
    return statement.dialect.stored_id(parsed)


def _enum_rule(column: str, *, nullable: bool = False) -> Rule:
    present = f"{column} IS NOT NULL AND " if nullable else ""
    absent = f"{column} IS NULL OR " if nullable else ""

    def rule(statement: Statement, condition: Mapping[str, Any]) -> str:
        parts: list[str] = []
        if condition.get("eq") is not None:
            value = statement.bind(_stored_enum(condition["eq"]))
            parts.append(f"({present}{column} = {value})")
        if condition.get("ne") is not None:
            value = statement.bind(_stored_enum(condition["ne"]))
            parts.append(f"({absent}{column} <> {value})")
        if condition.get("in") is not None:
            values = [_stored_enum(item) for item in _checked(condition["in"])]
            listed = _in_list(statement, column, values, negate=False)
            parts.append(f"({present}{listed})")
        if condition.get("notIn") is not None:
            values = [_stored_enum(item) for item in _checked(condition["notIn"])]
            listed = _in_list(statement, column, values, negate=True)
            parts.append(f"({absent}{listed})")
        return _all(parts)

    return rule


def _stored_enum(member: Any) -> Any:
    if not isinstance(member, Enum):
        raise NeedsExecutor
    return member.value


_COMPARISONS = (("eq", "="), ("gt", ">"), ("gte", ">="), ("lt", "<"), ("lte", "<="))


def _datetime_rule(column: str) -> Rule:
    def rule(statement: Statement, condition: Mapping[str, Any]) -> str:
        parts: list[str] = []
        for operator, sql in _COMPARISONS:
            value = condition.get(operator)
            if value is None:
                continue
            if not isinstance(value, datetime) or value.tzinfo is None:
                raise NeedsExecutor
            stored = statement.dialect.stored_time(value)
            parts.append(f"{column} {sql} {statement.bind(stored)}")
        return _all(parts)

    return rule


def _bool_rule(column: str) -> Rule:
    def rule(statement: Statement, value: Any) -> str:
        return (
            f"{column} = {statement.bind(statement.dialect.stored_bool(bool(value)))}"
        )

    return rule


def _through(foreign_key: str, table: str, rule: Rule) -> Rule:
    def through(statement: Statement, condition: Any) -> str:
        inner = rule(statement, condition)
        return f"{foreign_key} IN (SELECT t.id FROM {table} t WHERE {inner})"

    return through


def _in_list(
    statement: Statement, column: str, values: Sequence[Any], *, negate: bool
) -> str:
    if not values:
        return "1 = 1" if negate else "1 = 0"
    operator = "NOT IN" if negate else "IN"
    return f"{column} {operator} ({statement.bind_all(values)})"


def _checked(values: Any) -> Sequence[Any]:
    if not isinstance(values, list) or len(values) > MAX_LIST_VALUES:
        raise NeedsExecutor
    return values


def _all(parts: Sequence[str]) -> str:
    if not parts:
        return "1 = 1"
    return " AND ".join(f"({part})" for part in parts)


ACCOUNT_RULES: Mapping[str, Rule] = {
    "id": _id_rule("a.id"),
    "tenantId": _string_rule("a.tenant_id"),
    "isSandbox": _bool_rule("a.is_sandbox"),
    "integrationId": _id_rule("a.integration_id"),
    "integrationName": _through(
        "a.integration_id", "integration", _string_rule("t.name")
    ),
    "integrationCategory": _through(
        "a.integration_id", "integration", _string_rule("t.category")
    ),
    "environmentId": _id_rule("a.environment_id"),
    "environmentIntegrationId": _id_rule("a.environment_integration_id"),
    "superQuery": _enum_rule("a.super_query", nullable=True),
    "status": _enum_rule("a.status"),
    "authenticationMethod": _enum_rule("a.authentication_method", nullable=True),
    "region": _enum_rule("a.region"),
    "createdAt": _datetime_rule("a.created_at"),
    "updatedAt": _datetime_rule("a.updated_at"),
}


def filter_condition(
    statement: Statement, condition: Mapping[str, Any] | None, rules: Mapping[str, Rule]
) -> str:
    """Translate a coerced filter input; None matches every row."""
    if condition is None:
        return "1 = 1"
    _check_size(condition)
    return _combine(statement, condition, rules, 1)


def _combine(
    statement: Statement,
    condition: Mapping[str, Any],
    rules: Mapping[str, Rule],
    depth: int,
) -> str:
    if depth > MAX_FILTER_DEPTH or not isinstance(condition, Mapping):
        raise NeedsExecutor
    parts: list[str] = []
    for name, value in condition.items():
        if value is None or name in ("and", "or", "not"):
            continue
        rule = rules.get(name)
        if rule is None:
            raise NeedsExecutor
        parts.append(rule(statement, value))
    nested_and = condition.get("and")
    if nested_and is not None:
        parts.append(
            _all([_combine(statement, item, rules, depth + 1) for item in nested_and])
        )
    nested_or = condition.get("or")
    if nested_or is not None:
        terms = [
            f"({_combine(statement, item, rules, depth + 1)})" for item in nested_or
        ]
        parts.append(" OR ".join(terms) if terms else "1 = 0")
    nested_not = condition.get("not")
    if nested_not is not None:
        parts.append(f"NOT ({_combine(statement, nested_not, rules, depth + 1)})")
    return _all(parts)


def _check_size(condition: Mapping[str, Any]) -> None:
    count = 0
    pending: list[Any] = [condition]
    while pending:
        item = pending.pop()
        if not isinstance(item, Mapping):
            raise NeedsExecutor
        count += 1
        if count > MAX_FILTER_NODES:
            raise NeedsExecutor
        pending.extend(item.get("and") or ())
        pending.extend(item.get("or") or ())
        if item.get("not") is not None:
            pending.append(item["not"])


# -- order and keyset ----------------------------------------------------------


def order_columns(keys: Sequence[SortKey], alias: str) -> list[str]:
    """Return the columns of `keys` followed by the id, qualified by `alias`."""
    return [f"{alias}.{key.attribute}" for key in keys] + [f"{alias}.id"]


def with_id(keys: Sequence[SortKey]) -> list[bool]:
    """Return the direction (descending) of each key and of the id after them."""
    descending = [key.descending for key in keys]
    return [*descending, descending[-1] if descending else False]


def order_clause(columns: Sequence[str], descending: Sequence[bool]) -> str:
    """Return the ORDER BY list."""
    return ", ".join(
        f"{column} {'DESC' if down else 'ASC'}"
        for column, down in zip(columns, descending, strict=True)
    )


def beyond(
    statement: Statement,
    columns: Sequence[str],
    descending: Sequence[bool],
    position: CursorPosition,
    *,
    forward: bool,
) -> str:
    """Match rows strictly after (`forward`) or strictly before a cursor's row.

    `columns` and `descending` give the order, id last, as `order_columns`
    and `with_id` return them.
    """
    dialect = statement.dialect
    stored = [
        dialect.stored_time(value) if isinstance(value, datetime) else value
        for value in position.values
    ]
    values = [*stored, dialect.stored_id(position.row_id)]
    if len(set(descending)) == 1:
        operator = ">" if forward != descending[0] else "<"
        return f"({', '.join(columns)}) {operator} ({statement.bind_all(values)})"
    terms = []
    for index, (column, down) in enumerate(zip(columns, descending, strict=True)):
        prefix = [f"{columns[i]} = {statement.bind(values[i])}" for i in range(index)]
        operator = ">" if forward != down else "<"
        step = f"{column} {operator} {statement.bind(values[index])}"
        terms.append(" AND ".join([*prefix, step]))
    return " OR ".join(f"({term})" for term in terms)
