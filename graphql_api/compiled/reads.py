"""Serve plain list reads with one SQL statement, outside the executor.

`CompiledReads` keeps a plan per operation text (see
`graphql_api.compiled.plan`). An operation gets a plan only after the
executor has run it once without errors, so parsing, validation and the
document limits have passed for that text with this server's settings.
From then on a request for it:

1. coerces the variables and arguments with graphql-core, as execution does;
2. measures the operation's cost, as `QueryLimits` does, for
   ``extensions.cost``;
3. builds the page statement, whose scope subquery also checks the token;
4. runs it on a read-only driver connection and builds the response from
   the rows.

Any step can meet a case other than the ordinary one: a coercion error, a
value out of range, a malformed cursor, a cost over the limit, a stored
value it cannot read or a database error. `respond` then returns None, and
the view runs the request through the executor, which returns its usual
data or error. An empty page goes there too, because it cannot tell "no
rows" from "unknown token".
"""

from __future__ import annotations

import base64
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from graphql import DocumentNode, GraphQLError, GraphQLSchema, parse
from graphql.execution.values import get_argument_values, get_variable_values

from db.session import Database
from graphql_api.auth import parse_bearer_token
from graphql_api.compiled.drivers import Reader, open_reader
from graphql_api.compiled.plan import ACCOUNT_ALIAS, ROOT_FIELD, Plan, compile_plan
from graphql_api.compiled.statement import (
    ACCOUNT_RULES,
    NeedsExecutor,
    Statement,
    beyond,
    filter_condition,
    order_clause,
    order_columns,
    token_scope,
    with_id,
)
from graphql_api.compiled.values import Dialect, Unbindable, Unreadable
from graphql_api.document_cache import MAX_TEXT_CHARACTERS, LRUCache
from graphql_api.errors import AuthenticationError, BadUserInputError
from graphql_api.pagination import (
    DEFAULT_PAGE_SIZE,
    MAX_PAGE_SIZE,
    CursorPosition,
    KeyKind,
    SortKey,
    decode_cursor,
    order_signature,
)
from graphql_api.security.cost import measure_operation
from graphql_api.security.limits import (
    MAX_INTROSPECTION_LISTS,
    current_security_settings,
)
from graphql_api.tokens import hash_token
from graphql_api.types.ordering import sort_keys

logger = logging.getLogger("graphql_api.compiled")

# Operation texts with a plan, or with the knowledge that they have none.
MAX_PLANS = 512
# Seconds that compiled reads stay off after an unexpected failure, so that
# a database refusing the reader's connections costs one attempt per pause,
# not one per request.
PAUSE_SECONDS = 5.0
_NO_PLAN = object()


@dataclass(frozen=True, slots=True)
class _Order:
    """An `orderBy` item as `sort_keys` reads it."""

    field_: Any
    direction: Any


@dataclass(frozen=True, slots=True)
class _Request:
    """The validated arguments of one page request."""

    limit: int
    backward: bool
    keys: tuple[SortKey, ...]
    after: CursorPosition | None
    before: CursorPosition | None
    filter: Mapping[str, Any] | None


class CompiledReads:
    """Plans per operation text, and the read connections that serve them."""

    def __init__(
        self, database: Database, schema: GraphQLSchema, pool_size: int
    ) -> None:
        self.schema = schema
        self.dialect = Dialect(database.engine.dialect.name)
        self.reader: Reader | None = open_reader(database.engine.url, pool_size)
        self._observers = database.statement_observers
        self._plans: LRUCache[Any] = LRUCache(MAX_PLANS, MAX_TEXT_CHARACTERS)
        # After an unexpected failure, such as a database that refuses the
        # reader's connections, requests go to the executor until this time.
        self._paused_until = 0.0

    @property
    def enabled(self) -> bool:
        """Whether this database has a reader, so that plans can be served."""
        return self.reader is not None

    def learn(self, query: str, operation_name: str | None) -> None:
        """Plan an operation that the executor has just run without errors."""
        key = (query, operation_name)
        if not self.enabled or self._plans.get(key) is not None:
            return
        try:
            document = parse(query, no_location=True)
        except GraphQLError:
            self._plans.put(key, _NO_PLAN, len(query))
            return
        plan = compile_plan(self.schema, document, operation_name, self.dialect)
        entry = _NO_PLAN if plan is None else (plan, document)
        self._plans.put(key, entry, len(query))

    async def respond(
        self,
        query: str,
        operation_name: str | None,
        variables: Mapping[str, Any] | None,
        authorization: str | None,
    ) -> bytes | None:
        """Return the response body of a planned operation, or None.

        None means that the executor must serve the request.
        """
        entry = self._plans.get((query, operation_name))
        if entry is None or entry is _NO_PLAN or self.reader is None:
            return None
        if time.monotonic() < self._paused_until:
            return None
        plan, document = entry
        try:
            token = parse_bearer_token(authorization)
            cost = _checked_cost(self.schema, document, operation_name, variables)
            request = _request(self.schema, plan, variables)
            return await self._serve(plan, request, cost, hash_token(token))
        except (AuthenticationError, NeedsExecutor, Unbindable, Unreadable):
            return None
        except Exception:
            self._paused_until = time.monotonic() + PAUSE_SECONDS
            logger.warning(
                "compiled_read_failed operation=%r pause_seconds=%g",
                operation_name,
                PAUSE_SECONDS,
                exc_info=True,
            )
            return None

    async def _serve(
        self, plan: Plan, request: _Request, cost: int, token_hash: str
    ) -> bytes | None:
        now = datetime.now(UTC)
        sql, parameters, sort_start = self._page_sql(plan, request, token_hash, now)
        rows = await self._fetch(sql, parameters)
        if not rows:
            return None

        has_more = len(rows) > request.limit
        rows = rows[: request.limit]
        if request.backward:
            rows.reverse()
        has_next, has_previous = await self._neighbours(
            plan, request, has_more, token_hash, now
        )
        total: int | None = None
        if plan.needs_total_count:
            total = await self._count(request, token_hash, now)

        page = _Page(plan, request, self.dialect, rows, sort_start)
        body = {
            "data": {plan.root_key: page.connection(has_next, has_previous, total)},
            "extensions": {
                "cost": {
                    "requestedNodes": cost,
                    "maxNodes": current_security_settings().max_query_cost,
                }
            },
        }
        return orjson.dumps(body)

    async def _neighbours(
        self,
        plan: Plan,
        request: _Request,
        has_more: bool,
        token_hash: str,
        now: datetime,
    ) -> tuple[bool, bool]:
        """Return `hasNextPage` and `hasPreviousPage`, as the executor computes them.

        The page query's extra row decides the side that the page reads
        towards. The other side costs one EXISTS query, and only when it is
        selected and the request has a cursor on that side.
        """
        if not request.backward:
            has_previous = False
            if plan.needs_previous_page and request.after is not None:
                has_previous = await self._exists_outside(
                    request, request.after, token_hash, now, forward=True
                )
            return has_more, has_previous
        has_next = False
        if plan.needs_next_page and request.before is not None:
            has_next = await self._exists_outside(
                request, request.before, token_hash, now, forward=False
            )
        return has_next, has_more

    def _where(
        self, statement: Statement, request: _Request, token_hash: str, now: datetime
    ) -> list[str]:
        return [
            token_scope(statement, f"{ACCOUNT_ALIAS}.environment_id", token_hash, now),
            filter_condition(statement, request.filter, ACCOUNT_RULES),
        ]

    def _page_sql(
        self, plan: Plan, request: _Request, token_hash: str, now: datetime
    ) -> tuple[str, list[Any], int]:
        statement = Statement(self.dialect)
        conditions = self._where(statement, request, token_hash, now)
        columns = order_columns(request.keys, ACCOUNT_ALIAS)
        descending = with_id(request.keys)
        for position, forward in ((request.after, True), (request.before, False)):
            if position is not None:
                conditions.append(
                    beyond(statement, columns, descending, position, forward=forward)
                )
        # A backward page reads the order in reverse from its `before` end.
        reading = [down != request.backward for down in descending]
        joins = "".join(
            f" LEFT JOIN {joined.table} {joined.alias} "
            f"ON {joined.alias}.id = {ACCOUNT_ALIAS}.{joined.foreign_key}"
            for joined in plan.joins
        )
        select_list = [*plan.columns, *columns[:-1]]
        sql = (
            f"SELECT {', '.join(select_list)} FROM integrated_account {ACCOUNT_ALIAS}"
            f"{joins} WHERE {' AND '.join(f'({part})' for part in conditions)} "
            f"ORDER BY {order_clause(columns, reading)} "
            f"LIMIT {statement.bind(request.limit + 1)}"
        )
        return sql, statement.parameters, len(plan.columns)

    async def _count(self, request: _Request, token_hash: str, now: datetime) -> int:
        # NOTE: the COUNT checks the token again in its own statement, so a
        # token revoked between the page and the COUNT gets `totalCount: 0`
        # next to a page of rows.
        statement = Statement(self.dialect)
        conditions = self._where(statement, request, token_hash, now)
        sql = (
            f"SELECT count(*) FROM integrated_account {ACCOUNT_ALIAS} WHERE "
            + " AND ".join(f"({part})" for part in conditions)
        )
        rows = await self._fetch(sql, statement.parameters)
        return int(rows[0][0])

    async def _exists_outside(
        self,
        request: _Request,
        position: CursorPosition,
        token_hash: str,
        now: datetime,
        *,
        forward: bool,
    ) -> bool:
        """Tell whether a row exists at or behind a cursor, seen from the page.

        With `forward`, behind means at or before the `after` row (a
        previous page exists); otherwise at or after the `before` row (a
        next page exists). Sort keys are never NULL, so "not strictly
        beyond the cursor" is exactly "at the cursor or behind it".
        """
        statement = Statement(self.dialect)
        conditions = self._where(statement, request, token_hash, now)
        columns = order_columns(request.keys, ACCOUNT_ALIAS)
        ahead = beyond(
            statement, columns, with_id(request.keys), position, forward=forward
        )
        conditions.append(f"NOT ({ahead})")
        sql = (
            f"SELECT 1 FROM integrated_account {ACCOUNT_ALIAS} WHERE "
            + " AND ".join(f"({part})" for part in conditions)
            + " LIMIT 1"
        )
        return bool(await self._fetch(sql, statement.parameters))

    async def _fetch(self, sql: str, parameters: list[Any]) -> list[Sequence[Any]]:
        assert self.reader is not None
        for observe in self._observers:
            observe(sql, parameters)
        return await self.reader.fetch(sql, parameters)

    async def close(self) -> None:
        """Close the read connections."""
        if self.reader is not None:
            await self.reader.close()


def _checked_cost(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation_name: str | None,
    variables: Mapping[str, Any] | None,
) -> int:
    """Measure the operation as `QueryLimits` does; raise NeedsExecutor over a limit."""
    size = measure_operation(schema, document, operation_name, variables)
    limits = current_security_settings()
    if (
        size is None
        or size.depth > limits.max_query_depth
        or size.aliases > limits.max_aliases
        or size.introspection_lists > MAX_INTROSPECTION_LISTS
        or size.nodes > limits.max_query_cost
    ):
        raise NeedsExecutor
    return size.nodes


def _request(
    schema: GraphQLSchema, plan: Plan, variables: Mapping[str, Any] | None
) -> _Request:
    coerced = get_variable_values(
        schema, plan.operation.variable_definitions or (), dict(variables or {})
    )
    if isinstance(coerced, list):
        raise NeedsExecutor
    try:
        arguments = get_argument_values(plan.field_definition, plan.field_node, coerced)
    except GraphQLError:
        raise NeedsExecutor from None
    first, last = arguments.get("first"), arguments.get("last")
    if first is not None and last is not None:
        raise NeedsExecutor
    backward = last is not None
    size = last if backward else first
    limit = DEFAULT_PAGE_SIZE if size is None else size
    # An empty page has no rows to prove the token valid.
    if not 1 <= limit <= MAX_PAGE_SIZE:
        raise NeedsExecutor
    order_by = arguments.get("orderBy") or ()
    try:
        keys = sort_keys(
            [_Order(item["field"], item["direction"]) for item in order_by]
        )
        after, before = (
            _position(arguments.get(name), keys, name) for name in ("after", "before")
        )
    except (BadUserInputError, KeyError, TypeError):
        raise NeedsExecutor from None
    return _Request(limit, backward, keys, after, before, arguments.get("filter"))


def _position(
    cursor: str | None, keys: Sequence[SortKey], argument: str
) -> CursorPosition | None:
    if cursor is None:
        return None
    return decode_cursor(cursor, ROOT_FIELD, keys, argument)


class _Page:
    """Builds the connection object of one page from its rows."""

    def __init__(
        self,
        plan: Plan,
        request: _Request,
        dialect: Dialect,
        rows: Sequence[Sequence[Any]],
        sort_start: int,
    ) -> None:
        self.plan = plan
        self.request = request
        self.rows = rows
        self.sort_start = sort_start
        self._time = dialect.time_value_reader()
        self._read_id = dialect.id_reader()
        self._cursors: list[str] | None = None

    def cursors(self) -> list[str]:
        if self._cursors is None:
            self._cursors = [self._cursor(row) for row in self.rows]
        return self._cursors

    def _cursor(self, row: Sequence[Any]) -> str:
        values = []
        for offset, key in enumerate(self.request.keys):
            value = row[self.sort_start + offset]
            if key.kind is KeyKind.DATETIME:
                values.append(self._time(value).isoformat())
            else:
                values.append(value)
        row_id = self._read_id(row[self.plan.id_index]).replace("-", "")
        payload = [
            ROOT_FIELD,
            order_signature(self.request.keys),
            values,
            row_id,
        ]
        return base64.urlsafe_b64encode(orjson.dumps(payload)).decode("ascii")

    def connection(
        self, has_more: bool, has_previous: bool, total: int | None
    ) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for key, kind, detail in self.plan.connection:
            if kind == "typename":
                result[key] = detail
            elif kind == "totalCount":
                result[key] = total
            elif kind == "nodes":
                result[key] = [detail(row) for row in self.rows]
            elif kind == "edges":
                result[key] = self._edges(detail)
            elif kind == "pageInfo":
                result[key] = self._page_info(detail, has_more, has_previous)
        return result

    def _edges(self, edges: Any) -> list[dict[str, Any]]:
        cursors = (
            self.cursors() if any(k == "cursor" for _, k in edges.entries) else None
        )
        items = []
        for index, row in enumerate(self.rows):
            edge: dict[str, Any] = {}
            for key, kind in edges.entries:
                if kind == "typename":
                    edge[key] = "IntegratedAccountEdge"
                elif kind == "cursor":
                    assert cursors is not None
                    edge[key] = cursors[index]
                else:
                    edge[key] = edges.node(row)
            items.append(edge)
        return items

    def _page_info(
        self, page_info: Any, has_more: bool, has_previous: bool
    ) -> dict[str, Any]:
        info: dict[str, Any] = {}
        for key, name in page_info.entries:
            if name == "__typename":
                info[key] = "PageInfo"
            elif name == "hasNextPage":
                info[key] = has_more
            elif name == "hasPreviousPage":
                info[key] = has_previous
            elif name == "startCursor":
                info[key] = self._cursor(self.rows[0])
            elif name == "endCursor":
                info[key] = self._cursor(self.rows[-1])
        return info
