"""The baseline: a minimal hand-written endpoint that lists accounts like the API.

``POST /accounts`` takes the workload's parameters as a small JSON object
(see `bench.workloads.Workload.baseline_body`) and responds with the same JSON
document as the GraphQL query, including keyset cursors in the server's
format. It authenticates the bearer token, scopes the rows to the token's
environments, pages and joins in one SQL query, and serialises with orjson.
A second query runs only when the page is empty, to tell an unknown token
from an empty result.

Drivers: ``aiosqlite`` and ``asyncpg``, as the server uses, and ``sqlite3``,
the standard module called on the event loop thread.

Run: ``python -m bench.baseline --port P --database-url URL [--driver D]``.
It listens on 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import sqlite3
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any, Protocol

import aiosqlite
import asyncpg  # type: ignore[import-untyped]
import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

CONNECTION = "integratedAccounts"
ORDER_SIGNATURE = "created_at:desc"
SQLITE_TIME_FORMAT = "%Y-%m-%d %H:%M:%S.%f"
# Pool sizes follow SQLAlchemy's defaults, which the server runs with:
# 5 connections, and 10 more under load on PostgreSQL.
SQLITE_POOL_SIZE = 5
POSTGRES_POOL_MIN = 5
POSTGRES_POOL_MAX = 15

PAGE_COLUMNS = (
    "a.id, a.tenant_id, a.status, a.region, a.is_sandbox, a.created_at, "
    "a.updated_at, i.name, i.category"
)
WIDE_COLUMNS = (
    f"{PAGE_COLUMNS}, a.authentication_method, a.last_error, "
    "a.last_validated_at, i.id, e.id, e.name"
)


class Driver(Protocol):
    """Runs one query with positional parameters and returns the rows."""

    dialect: str

    async def fetch(self, sql: str, parameters: Sequence[Any]) -> list[Sequence[Any]]:
        """Run `sql` and return every row."""
        ...

    async def close(self) -> None:
        """Close every connection."""
        ...


class SQLiteLoopDriver:
    """The standard sqlite3 module, called on the event loop thread."""

    dialect = "sqlite"

    def __init__(self, path: str) -> None:
        self._connection = sqlite3.connect(path, isolation_level=None)
        self._connection.execute("PRAGMA busy_timeout=30000")

    async def fetch(self, sql: str, parameters: Sequence[Any]) -> list[Sequence[Any]]:
        return self._connection.execute(sql, tuple(parameters)).fetchall()

    async def close(self) -> None:
        self._connection.close()


class AiosqliteDriver:
    """A small pool of aiosqlite connections, each with its own thread."""

    dialect = "sqlite"

    def __init__(self, connections: list[aiosqlite.Connection]) -> None:
        self._connections = connections
        self._idle: asyncio.Queue[aiosqlite.Connection] = asyncio.Queue()
        for connection in connections:
            self._idle.put_nowait(connection)

    @classmethod
    async def open(cls, path: str, size: int) -> AiosqliteDriver:
        """Open `size` connections to the SQLite file at `path`."""
        connections = [await aiosqlite.connect(path) for _ in range(size)]
        for connection in connections:
            await connection.execute("PRAGMA busy_timeout=30000")
        return cls(connections)

    async def fetch(self, sql: str, parameters: Sequence[Any]) -> list[Sequence[Any]]:
        connection = await self._idle.get()
        try:
            cursor = await connection.execute(sql, tuple(parameters))
            return list(await cursor.fetchall())
        finally:
            self._idle.put_nowait(connection)

    async def close(self) -> None:
        for connection in self._connections:
            await connection.close()


class AsyncpgDriver:
    """An asyncpg pool."""

    dialect = "postgresql"

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def fetch(self, sql: str, parameters: Sequence[Any]) -> list[Sequence[Any]]:
        rows: list[Sequence[Any]] = await self._pool.fetch(sql, *parameters)
        return rows

    async def close(self) -> None:
        await self._pool.close()


async def open_driver(database_url: str, driver: str) -> Driver:
    """Open `driver` on a SQLAlchemy-style database URL."""
    if driver == "asyncpg":
        url = database_url.replace("postgresql+asyncpg://", "postgresql://", 1)
        pool = await asyncpg.create_pool(
            url, min_size=POSTGRES_POOL_MIN, max_size=POSTGRES_POOL_MAX
        )
        return AsyncpgDriver(pool)
    path = database_url.split(":///", 1)[1]
    if driver == "sqlite3":
        return SQLiteLoopDriver(path)
    if driver == "aiosqlite":
        return await AiosqliteDriver.open(path, SQLITE_POOL_SIZE)
    raise ValueError(
        f"unknown driver {driver!r}: expected aiosqlite, sqlite3 or asyncpg"
    )


class BadRequestError(Exception):
    """Raised for a request body or cursor that the endpoint cannot use."""


class PageQuery:
    """Builds the page query and its parameters for one dialect."""

    def __init__(self, dialect: str) -> None:
        self.dialect = dialect
        self._parameters: list[Any] = []

    @property
    def parameters(self) -> list[Any]:
        """The parameters bound so far, in placeholder order."""
        return self._parameters

    def bind(self, value: Any) -> str:
        """Add a parameter and return its placeholder."""
        self._parameters.append(value)
        if self.dialect == "postgresql":
            return f"${len(self._parameters)}"
        return "?"

    def time(self, value: datetime) -> Any:
        """Convert an aware timestamp to the column's stored form."""
        if self.dialect == "sqlite":
            return value.astimezone(UTC).strftime(SQLITE_TIME_FORMAT)
        return value

    def row_id(self, value: uuid.UUID) -> Any:
        """Convert an id to the column's stored form."""
        return value.hex if self.dialect == "sqlite" else value

    def build(self, token_hash: str, request: dict[str, Any]) -> tuple[str, list[Any]]:
        """Return the SQL and parameters of one page request."""
        columns = WIDE_COLUMNS if request["wide"] else PAGE_COLUMNS
        environment_join = (
            " LEFT JOIN environment e ON e.id = a.environment_id"
            if request["wide"]
            else ""
        )
        conditions = [self._token_scope(token_hash), *self._filters(request)]

        limit = self.bind(int(request["first"]) + 1)
        sql = (
            f"SELECT {columns} FROM integrated_account a "
            f"LEFT JOIN integration i ON i.id = a.integration_id{environment_join} "
            f"WHERE {' AND '.join(conditions)} "
            f"ORDER BY a.created_at DESC, a.id DESC LIMIT {limit}"
        )
        return sql, self._parameters

    def _token_scope(self, token_hash: str) -> str:
        """Match the accounts in the environments of a valid token."""
        now = self.time(datetime.now(UTC))
        # Both databases have planner statistics (see `bench.databases`), so
        # they walk the (created_at, id) index and stop after one page. The
        # LEFT JOINs keep SQLite from starting at the small integration table
        # and sorting its accounts; every account has both rows.
        scope = "a.environment_id"
        return (
            f"{scope} IN (SELECT env.id FROM environment env "
            "JOIN api_token t ON t.team_id = env.team_id "
            f"WHERE t.token_hash = {self.bind(token_hash)} "
            "AND (t.environment_id IS NULL OR t.environment_id = env.id) "
            f"AND (t.revoked_at IS NULL OR t.revoked_at > {self.bind(now)}) "
            f"AND (t.expires_at IS NULL OR t.expires_at > {self.bind(now)}))"
        )

    def _filters(self, request: dict[str, Any]) -> list[str]:
        """Return the conditions of the filter and of the `after` cursor."""
        conditions = []
        if request["status"] is not None:
            status = str(request["status"]).lower()
            conditions.append(f"a.status = {self.bind(status)}")
        if request["createdAtGte"] is not None:
            since = self.time(_parse_time(request["createdAtGte"]))
            conditions.append(f"a.created_at >= {self.bind(since)}")
        if request["after"] is not None:
            created_at, row_id = decode_cursor(request["after"])
            created = self.bind(self.time(created_at))
            identifier = self.bind(self.row_id(row_id))
            conditions.append(f"(a.created_at, a.id) < ({created}, {identifier})")
        return conditions


def _parse_time(value: str) -> datetime:
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        raise BadRequestError(f"timestamp {value!r} has no UTC offset")
    return parsed


def encode_cursor(created_at: datetime, row_id: uuid.UUID) -> str:
    """Build the server's cursor for a row of the newest-first order."""
    payload = [CONNECTION, ORDER_SIGNATURE, [created_at.isoformat()], row_id.hex]
    return base64.urlsafe_b64encode(orjson.dumps(payload)).decode("ascii")


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    """Read a cursor of the newest-first order back into its position."""
    try:
        payload = orjson.loads(base64.urlsafe_b64decode(cursor.encode("ascii")))
        connection, order, values, row_hex = payload
        if connection != CONNECTION or order != ORDER_SIGNATURE:
            raise ValueError(f"cursor of {connection!r} ordered by {order!r}")
        return _parse_time(values[0]), uuid.UUID(hex=row_hex)
    except (ValueError, TypeError, orjson.JSONDecodeError) as error:
        raise BadRequestError(f"cursor {cursor!r} is malformed: {error}") from None


class RowReader:
    """Converts stored values to the JSON values of the GraphQL response."""

    def __init__(self, dialect: str) -> None:
        self.sqlite = dialect == "sqlite"

    def time(self, value: Any) -> datetime | None:
        """Return an aware UTC timestamp."""
        if value is None:
            return None
        if self.sqlite:
            parsed: datetime = datetime.fromisoformat(value).replace(tzinfo=UTC)
            return parsed
        aware: datetime = value.astimezone(UTC)
        return aware

    def row_id(self, value: Any) -> uuid.UUID:
        """Return a UUID."""
        return uuid.UUID(hex=value) if self.sqlite else uuid.UUID(str(value))

    def node(self, row: Sequence[Any], wide: bool) -> dict[str, Any]:
        """Build one node of the response from a row of the page query."""
        created_at = self.time(row[5])
        updated_at = self.time(row[6])
        node: dict[str, Any] = {
            "id": str(self.row_id(row[0])),
            "tenantId": row[1],
            "status": row[2].upper(),
            "region": row[3].upper(),
            "isSandbox": bool(row[4]),
        }
        if wide:
            method = row[9]
            validated = self.time(row[11])
            node["authenticationMethod"] = None if method is None else method.upper()
            node["lastError"] = row[10]
            node["createdAt"] = _iso(created_at)
            node["updatedAt"] = _iso(updated_at)
            node["lastValidatedAt"] = _iso(validated)
            node["integration"] = {
                "id": str(self.row_id(row[12])),
                "name": row[7],
                "category": row[8],
            }
            node["environment"] = {"id": str(self.row_id(row[13])), "name": row[14]}
        else:
            node["createdAt"] = _iso(created_at)
            node["updatedAt"] = _iso(updated_at)
            node["integration"] = {"name": row[7], "category": row[8]}
        return node


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def json_response(content: Any, status_code: int = 200) -> Response:
    """Serialise `content` with orjson."""
    return Response(orjson.dumps(content), status_code, media_type="application/json")


def error_response(message: str, status_code: int) -> Response:
    """Return an error response in the API's error shape."""
    return json_response({"errors": [{"message": message}]}, status_code)


def create_baseline(open_database: Callable[[], Any]) -> Starlette:
    """Build the baseline application; `open_database` returns a `Driver`."""
    state: dict[str, Driver] = {}

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        state["driver"] = await open_database()
        try:
            yield
        finally:
            await state["driver"].close()

    async def accounts(request: Request) -> Response:
        driver = state["driver"]
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            return error_response("Missing API token.", 401)
        token_hash = hashlib.sha256(token.strip().encode()).hexdigest()
        try:
            body = orjson.loads(await request.body())
            sql, parameters = PageQuery(driver.dialect).build(token_hash, body)
        except (BadRequestError, KeyError, TypeError, orjson.JSONDecodeError) as error:
            return error_response(f"Bad request: {error}", 400)
        rows = await driver.fetch(sql, parameters)
        if not rows and not await _token_is_valid(driver, token_hash):
            return error_response("Unknown API token.", 401)
        return json_response(_page_document(rows, body, RowReader(driver.dialect)))

    return Starlette(
        routes=[Route("/accounts", accounts, methods=["POST"])], lifespan=lifespan
    )


def _page_document(
    rows: list[Sequence[Any]], body: dict[str, Any], reader: RowReader
) -> dict[str, Any]:
    first = int(body["first"])
    page = rows[:first]
    nodes = [reader.node(row, bool(body["wide"])) for row in page]
    end_cursor = None
    if page:
        last = page[-1]
        created_at = reader.time(last[5])
        assert created_at is not None
        end_cursor = encode_cursor(created_at, reader.row_id(last[0]))
    page_info = {"endCursor": end_cursor, "hasNextPage": len(rows) > first}
    return {"data": {CONNECTION: {"nodes": nodes, "pageInfo": page_info}}}


async def _token_is_valid(driver: Driver, token_hash: str) -> bool:
    query = PageQuery(driver.dialect)
    now = query.time(datetime.now(UTC))
    sql = (
        f"SELECT 1 FROM api_token WHERE token_hash = {query.bind(token_hash)} "
        f"AND (revoked_at IS NULL OR revoked_at > {query.bind(now)}) "
        f"AND (expires_at IS NULL OR expires_at > {query.bind(now)})"
    )
    return bool(await driver.fetch(sql, query.parameters))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True, help="TCP port")
    parser.add_argument(
        "--database-url", required=True, help="SQLAlchemy URL of the database"
    )
    parser.add_argument(
        "--driver",
        choices=("aiosqlite", "sqlite3", "asyncpg"),
        default="aiosqlite",
        help="database driver",
    )
    parser.add_argument("--log-level", default="warning", help="uvicorn log level")
    arguments = parser.parse_args()
    app = create_baseline(lambda: open_driver(arguments.database_url, arguments.driver))
    uvicorn.run(
        app, host="127.0.0.1", port=arguments.port, log_level=arguments.log_level
    )


if __name__ == "__main__":
    main()
