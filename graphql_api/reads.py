"""Database reads of one request, one query at a time.

GraphQL resolves the items of a list concurrently, so a nested connection
such as ``integratedAccounts { nodes { environment { integratedAccounts } } }``
starts one page query per parent at once. Left alone, each query checks out
its own pooled connection, and a single request can drain the pool and make
every other request wait for the pool timeout. `RequestReads` lets a request
run one read at a time, so it checks out at most one pooled connection for reads
(plus the write session of a running mutation).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from db.session import Database


class ReadSource(Protocol):
    """Anything that opens read sessions: a `Database` or a `RequestReads`."""

    @property
    def engine(self) -> AsyncEngine: ...

    def read_session(self) -> AbstractAsyncContextManager[AsyncSession]: ...


class RequestReads:
    """Read sessions of one request, opened one after the other.

    Each session still runs its own short transaction and returns its
    connection to the pool when the block ends, so a read that follows a
    mutation in the same request reads the mutation's writes.
    """

    def __init__(self, database: Database) -> None:
        self.database = database
        self._lock = asyncio.Lock()

    @property
    def engine(self) -> AsyncEngine:
        """The database's engine, for its dialect."""
        return self.database.engine

    @asynccontextmanager
    async def read_session(self) -> AsyncIterator[AsyncSession]:
        """Wait until no other read of this request runs, then yield a session."""
        async with self._lock, self.database.read_session() as session:
            yield session
