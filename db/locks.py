"""Named locks that serialize work across server processes sharing a database.

A lock is held by a transaction and released when it commits or rolls back.
On PostgreSQL it is a transaction-level advisory lock
(``pg_advisory_xact_lock``), keyed by a 64-bit hash of the lock's name. On
SQLite a write transaction started with ``BEGIN IMMEDIATE`` (as
`Database.write_session` and the migrations start theirs) already holds the
database's single write lock, which excludes every other writer, so taking a
named lock there adds nothing.

Row locks (``SELECT ... FOR UPDATE``) remain the tool for work on one row.
Named locks are for work that has no row to lock, such as running the
migrations.
"""

from __future__ import annotations

import hashlib

from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

MIGRATIONS_LOCK = "graphql_api.migrations"

_ADVISORY_LOCK = text("SELECT pg_advisory_xact_lock(:key)")


def lock_key(name: str) -> int:
    """Return the signed 64-bit advisory lock key of `name`."""
    digest = hashlib.sha256(name.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def hold_lock(connection: Connection, name: str) -> None:
    """Wait for the lock `name` and hold it until the transaction ends.

    For synchronous code, such as migrations run through ``run_sync``. The
    connection must be inside a transaction, which on SQLite must be a write
    transaction for the lock to exclude anything.
    """
    if connection.dialect.name == "postgresql":
        connection.execute(_ADVISORY_LOCK, {"key": lock_key(name)})


async def hold_lock_async(
    connection: AsyncConnection | AsyncSession, name: str
) -> None:
    """Wait for the lock `name` and hold it until the transaction ends.

    The async form of `hold_lock`, for a session or connection in a write
    transaction.
    """
    bind = connection.bind if isinstance(connection, AsyncSession) else connection
    if bind is None:
        raise ValueError("the session has no bind: open it on a Database's engine")
    if bind.dialect.name == "postgresql":
        await connection.execute(_ADVISORY_LOCK, {"key": lock_key(name)})
