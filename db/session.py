"""Database engines and sessions.

SQLite runs in WAL mode with a busy timeout and foreign keys on. Transactions
are started by hand so that write sessions can take the write lock up front
with ``BEGIN IMMEDIATE``: a deferred transaction that reads first and writes
later can fail with "database is locked" when another writer got in between,
and the busy timeout cannot help it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

SQLITE_BUSY_TIMEOUT_MS = 30_000
# Name of the server's connections in PostgreSQL's pg_stat_activity.
APPLICATION_NAME = "graphql-api"


def is_sqlite(url: str) -> bool:
    """Tell whether a SQLAlchemy database URL points at SQLite."""
    return url.startswith("sqlite")


def create_engine(url: str, **pool_options: Any) -> AsyncEngine:
    """Create an async engine with this project's connection settings.

    `pool_options` are SQLAlchemy's queue pool arguments (``pool_size``,
    ``max_overflow``, ``pool_timeout``, ``pool_recycle``) and apply to both
    databases. On PostgreSQL every checkout first tests the connection
    (``pool_pre_ping``), so a connection that the server or a proxy closed is
    replaced instead of failing a request, and the connections carry the
    ``application_name`` `APPLICATION_NAME`, which ``pg_stat_activity`` shows.
    """
    if is_sqlite(url):
        engine = create_async_engine(url, connect_args={"timeout": 30}, **pool_options)
        _configure_sqlite(engine)
        return engine
    return create_async_engine(
        url,
        pool_pre_ping=True,
        connect_args={"server_settings": {"application_name": APPLICATION_NAME}},
        **pool_options,
    )


def _configure_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Autocommit at the driver level: the "begin" hook below issues BEGIN.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Connection) -> None:
        mode = connection.get_execution_options().get("sqlite_begin", "DEFERRED")
        connection.exec_driver_sql(f"BEGIN {mode}")


class Database:
    """An engine with one session factory for reads and one for writes."""

    def __init__(self, url: str, **pool_options: Any) -> None:
        self.url = url
        self.engine = create_engine(url, **pool_options)
        self.is_sqlite = is_sqlite(url)
        write_engine = (
            self.engine.execution_options(sqlite_begin="IMMEDIATE")
            if self.is_sqlite
            else self.engine
        )
        self._read_sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        self._write_sessions = async_sessionmaker(write_engine, expire_on_commit=False)
        self._on_dispose: list[Callable[[], Awaitable[None]]] = []
        # Called with the SQL text and parameters of each statement sent
        # outside SQLAlchemy, such as the compiled reads, so that they can be
        # counted like those of the engine's `before_cursor_execute` event.
        self.statement_observers: list[Callable[[str, Sequence[Any]], None]] = []

    def read_session(self) -> AsyncSession:
        """Return a session for reads only."""
        return self._read_sessions()

    @asynccontextmanager
    async def write_session(self) -> AsyncIterator[AsyncSession]:
        """Yield a session whose transaction holds the write lock, then commit.

        The transaction is rolled back when the block raises.
        """
        async with self._write_sessions() as session, session.begin():
            yield session

    def on_dispose(self, close: Callable[[], Awaitable[None]]) -> None:
        """Run `close` when the database is disposed of, before the pool closes.

        Components that keep connections of their own outside the pool, such
        as the compiled reads, register their closing here.
        """
        self._on_dispose.append(close)

    async def dispose(self) -> None:
        """Close every pooled connection, and those of `on_dispose` callbacks."""
        callbacks, self._on_dispose = self._on_dispose, []
        for close in callbacks:
            await close()
        await self.engine.dispose()
