"""Alembic environment for the server's tables.

`db.migrate` hands over an open connection in ``config.attributes``, so that
one engine, set up for the dialect, runs every migration. Running ``alembic``
by hand with only ``sqlalchemy.url`` set works too: this file then opens its
own async engine.
"""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection
from sqlmodel import SQLModel

import db.models  # noqa: F401  (registers the tables on SQLModel.metadata)
from db.session import is_sqlite

config = context.config
target_metadata = SQLModel.metadata


def _configure(connection: Connection) -> None:
    # SQLite cannot alter most of a table in place, so batch mode rebuilds
    # the table instead, and PostgreSQL alters it directly. Both run DDL in
    # transactions, so the whole upgrade commits or rolls back as one.
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        transactional_ddl=True,
        compare_type=True,
    )


def _run_on(connection: Connection) -> None:
    _configure(connection)
    with context.begin_transaction():
        context.run_migrations()


async def _run_with_own_engine(url: str) -> None:
    from db.migrate import create_migration_engine

    engine = create_migration_engine(url)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run_on)
    finally:
        await engine.dispose()


def _run_offline(url: str) -> None:
    context.configure(
        url=url,
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=is_sqlite(url),
    )
    with context.begin_transaction():
        context.run_migrations()


def _main() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run_on(connection)
        return
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError(
            "no database to migrate: set sqlalchemy.url in the Alembic config "
            "or pass a connection in config.attributes['connection']"
        )
    if context.is_offline_mode():
        _run_offline(url)
    else:
        asyncio.run(_run_with_own_engine(url))


_main()
