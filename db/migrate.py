"""Schema migrations with Alembic, configured in code.

The Alembic config is built here rather than read from an ``alembic.ini``, so
that migrations run the same from a checkout and from an installed package.
`upgrade` is synchronous for the command-line tool, which migrates before the
server's event loop starts. `upgrade_async` is for code that already runs in
an event loop.

On SQLite the migration engine keeps foreign keys off, because batch mode
changes a table by copying it into a new one and dropping the old one. With
foreign keys on, that drop would run ``ON DELETE CASCADE`` and delete the rows
that reference the table. SQLite's ALTER TABLE page gives the same advice.

Each upgrade runs in one transaction. On SQLite it starts with
``BEGIN IMMEDIATE``, so that a running server cannot write in between. On
PostgreSQL it first takes the advisory lock `db.locks.MIGRATIONS_LOCK`, so
that server processes starting at once migrate one after the other: the
later ones find the database at the head revision and change nothing.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import event, make_url
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from db.locks import MIGRATIONS_LOCK, hold_lock
from db.session import SQLITE_BUSY_TIMEOUT_MS, is_sqlite

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

_T = TypeVar("_T")


def alembic_config(database_url: str | None = None) -> Config:
    """Build the Alembic config that points at this package's migrations."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if database_url is not None:
        # Config values go through configparser interpolation, so a literal
        # "%" (as in a URL-encoded password) must be doubled.
        config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def head_revision() -> str:
    """Return the newest revision of the migration history."""
    script = ScriptDirectory.from_config(alembic_config())
    head = script.get_current_head()
    if head is None:
        raise RuntimeError(f"no migration found in {MIGRATIONS_DIR}")
    return head


def create_migration_engine(database_url: str) -> AsyncEngine:
    """Create an engine for running migrations against `database_url`.

    Raises FileNotFoundError when the folder of a SQLite file does not exist,
    since SQLite creates the file but not its folder.
    """
    engine = create_async_engine(database_url, poolclass=NullPool)
    if is_sqlite(database_url):
        _check_sqlite_folder(database_url)
        _configure_sqlite_for_migrations(engine)
    return engine


def _check_sqlite_folder(database_url: str) -> None:
    database = make_url(database_url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    folder = Path(database).parent
    if not folder.is_dir():
        raise FileNotFoundError(
            f"folder {str(folder)!r} of the SQLite database {database!r} does not "
            "exist: create it or point DATABASE_URL elsewhere"
        )


def _configure_sqlite_for_migrations(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # The driver must not open transactions on its own, because the
        # "begin" hook below issues BEGIN IMMEDIATE.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=OFF")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Connection) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


async def upgrade_async(database_url: str, revision: str = "head") -> None:
    """Apply every pending migration up to `revision` in one transaction."""
    config = alembic_config(database_url)
    engine = create_migration_engine(database_url)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_upgrade_on, config, revision)
    finally:
        await engine.dispose()


async def downgrade_async(database_url: str, revision: str) -> None:
    """Revert migrations down to `revision` ("base" reverts all of them)."""
    config = alembic_config(database_url)
    engine = create_migration_engine(database_url)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_downgrade_on, config, revision)
    finally:
        await engine.dispose()


def _upgrade_on(connection: Connection, config: Config, revision: str) -> None:
    with connection.begin():
        hold_lock(connection, MIGRATIONS_LOCK)
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def _downgrade_on(connection: Connection, config: Config, revision: str) -> None:
    with connection.begin():
        hold_lock(connection, MIGRATIONS_LOCK)
        config.attributes["connection"] = connection
        command.downgrade(config, revision)


async def current_revision_async(database_url: str) -> str | None:
    """Return the revision the database is at, or None before any migration."""
    engine = create_migration_engine(database_url)
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(_read_revision)
    finally:
        await engine.dispose()


def _read_revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def upgrade(database_url: str, revision: str = "head") -> None:
    """Apply every pending migration up to `revision` and wait for the end.

    Safe to call with an event loop running in this thread: the work then
    runs on a new loop in a helper thread, and this call blocks until it ends.
    """
    _run_blocking(upgrade_async(database_url, revision))


def current_revision(database_url: str) -> str | None:
    """Return the revision the database is at, or None before any migration."""
    return _run_blocking(current_revision_async(database_url))


def _run_blocking(coroutine: Coroutine[Any, Any, _T]) -> _T:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as executor:
        return executor.submit(asyncio.run, coroutine).result()
