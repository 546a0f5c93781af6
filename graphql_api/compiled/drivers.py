"""Read-only driver connections for compiled reads.

A compiled read is one SELECT, so it skips SQLAlchemy's pool and session:
no pre-ping, no BEGIN and ROLLBACK, no result processing. Each reader keeps
a few connections of its own, opened on first use and closed with the
server:

- `SQLiteReader`: aiosqlite connections with ``query_only`` on, so that no
  statement sent through them can write. In WAL mode each SELECT reads the
  latest committed state.
- `PostgresReader`: asyncpg connections in autocommit, so that a SELECT is
  one round trip. asyncpg prepares each statement text once per connection.

A SQLite connection whose query fails, and a PostgreSQL connection whose
query fails for a reason other than the SQL itself, is closed and replaced
on the next use.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from typing import Any, Protocol

import aiosqlite
from sqlalchemy.engine import URL

from db.session import APPLICATION_NAME, SQLITE_BUSY_TIMEOUT_MS

logger = logging.getLogger("graphql_api.compiled")


class Reader(Protocol):
    """Runs one SELECT and returns its rows."""

    async def fetch(self, sql: str, parameters: Sequence[Any]) -> list[Sequence[Any]]:
        """Run `sql` with positional `parameters` and return every row."""
        ...

    async def close(self) -> None:
        """Close every connection."""
        ...


class _Slots:
    """A bounded set of connections: idle ones in a stack, opened on demand.

    The semaphore counts checked-out connections. A connection is opened
    only when no idle one is left, so checked-out plus idle connections
    never exceed `size`. A waiter wakes whenever any connection is given
    back, including one that is closed because its query failed.
    """

    def __init__(self, size: int) -> None:
        self.checkout = asyncio.Semaphore(size)
        self.idle: list[Any] = []
        self.all: set[Any] = set()


class SQLiteReader:
    """Up to `size` read-only aiosqlite connections to one database file."""

    def __init__(self, path: str, size: int) -> None:
        self.path = path
        self._slots = _Slots(size)

    async def fetch(self, sql: str, parameters: Sequence[Any]) -> list[Sequence[Any]]:
        connection = await self._acquire()
        healthy = False
        try:
            rows = await connection.execute_fetchall(sql, parameters)
            healthy = True
            return list(rows)
        finally:
            await self._release(connection, healthy)

    async def _acquire(self) -> aiosqlite.Connection:
        slots = self._slots
        await slots.checkout.acquire()
        try:
            if slots.idle:
                idle: aiosqlite.Connection = slots.idle.pop()
                return idle
            connection = await self._connect()
        except BaseException:
            slots.checkout.release()
            raise
        slots.all.add(connection)
        return connection

    async def _connect(self) -> aiosqlite.Connection:
        connection = await aiosqlite.connect(self.path, timeout=30)
        try:
            await connection.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            await connection.execute("PRAGMA query_only=ON")
        except BaseException:
            await connection.close()
            raise
        return connection

    async def _release(self, connection: aiosqlite.Connection, healthy: bool) -> None:
        try:
            if healthy:
                self._slots.idle.append(connection)
            else:
                await self._discard(connection)
        finally:
            self._slots.checkout.release()

    async def _discard(self, connection: aiosqlite.Connection) -> None:
        self._slots.all.discard(connection)
        with contextlib.suppress(Exception):
            await connection.close()

    async def close(self) -> None:
        self._slots.idle.clear()
        for connection in list(self._slots.all):
            await self._discard(connection)


class PostgresReader:
    """Up to `size` asyncpg connections in autocommit."""

    def __init__(self, url: URL, size: int) -> None:
        self._dsn = url.set(drivername="postgresql").render_as_string(
            hide_password=False
        )
        self._slots = _Slots(size)

    async def fetch(self, sql: str, parameters: Sequence[Any]) -> list[Sequence[Any]]:
        import asyncpg  # type: ignore[import-untyped]

        connection = await self._acquire()
        healthy = False
        try:
            rows = await connection.fetch(sql, *parameters)
            healthy = True
            return list(rows)
        except asyncpg.PostgresError:
            # An error of the statement itself leaves the connection usable.
            healthy = not connection.is_closed()
            raise
        finally:
            self._release(connection, healthy)

    async def _acquire(self) -> Any:
        import asyncpg

        slots = self._slots
        await slots.checkout.acquire()
        try:
            while slots.idle:
                connection = slots.idle.pop()
                if not connection.is_closed():
                    return connection
                slots.all.discard(connection)
            connection = await asyncpg.connect(
                self._dsn,
                server_settings={"application_name": APPLICATION_NAME},
            )
        except BaseException:
            slots.checkout.release()
            raise
        slots.all.add(connection)
        return connection

    def _release(self, connection: Any, healthy: bool) -> None:
        try:
            if healthy:
                self._slots.idle.append(connection)
            else:
                self._slots.all.discard(connection)
                with contextlib.suppress(Exception):
                    connection.terminate()
        finally:
            self._slots.checkout.release()

    async def close(self) -> None:
        self._slots.idle.clear()
        for connection in list(self._slots.all):
            self._slots.all.discard(connection)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(connection.close(), timeout=5)


def open_reader(url: URL, size: int) -> Reader | None:
    """Return a reader for the database at `url`, or None when it has none.

    An in-memory SQLite database is private to one connection, so it gets
    no reader, and neither does any other backend.
    """
    backend = url.get_backend_name()
    if backend == "sqlite":
        path = url.database
        if not path or path == ":memory:" or url.query.get("mode") == "memory":
            return None
        return SQLiteReader(path, size)
    if backend == "postgresql":
        return PostgresReader(url, size)
    logger.info("compiled_reads_off reason='no reader for %s'", backend)
    return None
