"""The Alembic history against the tables that db/models.py declares."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Connection
from sqlmodel import SQLModel

import db.models  # noqa: F401  (registers the tables on SQLModel.metadata)
from db.migrate import (
    create_migration_engine,
    current_revision,
    downgrade_async,
    head_revision,
    upgrade,
    upgrade_async,
)
from tests.cli_support import sqlite_url

# `database_url` is a new empty database of the selected backend (see
# tests/database_backend.py).


async def _inspect(database_url: str, read: Any) -> Any:
    engine = create_migration_engine(database_url)
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(read)
    finally:
        await engine.dispose()


def _schema_differences(connection: Connection, metadata: sa.MetaData) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, metadata))


def _table_names(connection: Connection) -> set[str]:
    return set(sa.inspect(connection).get_table_names())


def test_fresh_database_has_no_revision(database_url: str) -> None:
    assert current_revision(database_url) is None


def test_upgrade_reaches_head(database_url: str) -> None:
    upgrade(database_url)

    assert current_revision(database_url) == head_revision()


async def test_upgrade_creates_every_model_table(database_url: str) -> None:
    await upgrade_async(database_url)

    tables = await _inspect(database_url, _table_names)
    assert tables == set(SQLModel.metadata.tables) | {"alembic_version"}


async def test_models_and_migrations_agree(database_url: str) -> None:
    await upgrade_async(database_url)

    differences = await _inspect(
        database_url,
        lambda connection: _schema_differences(connection, SQLModel.metadata),
    )
    assert differences == []


async def test_comparison_reports_undeclared_table(database_url: str) -> None:
    await upgrade_async(database_url)
    metadata = sa.MetaData()
    for table in SQLModel.metadata.tables.values():
        table.to_metadata(metadata)
    sa.Table("extra", metadata, sa.Column("id", sa.Integer, primary_key=True))

    differences = await _inspect(
        database_url, lambda connection: _schema_differences(connection, metadata)
    )
    assert [difference[0] for difference in differences] == ["add_table"]


async def test_foreign_keys_cascade_on_delete(database_url: str) -> None:
    await upgrade_async(database_url)

    def foreign_keys(connection: Connection) -> list[tuple[str, str, Any]]:
        inspector = sa.inspect(connection)
        return [
            (table, key["referred_table"], key.get("options", {}).get("ondelete"))
            for table in inspector.get_table_names()
            for key in inspector.get_foreign_keys(table)
        ]

    keys = await _inspect(database_url, foreign_keys)
    declared = [
        key for table in SQLModel.metadata.tables.values() for key in table.foreign_keys
    ]
    assert len(keys) == len(declared)
    assert {ondelete for _, _, ondelete in keys} == {"CASCADE"}


def test_second_upgrade_changes_nothing(database_url: str) -> None:
    upgrade(database_url)

    upgrade(database_url)

    assert current_revision(database_url) == head_revision()


async def test_sync_upgrade_works_inside_event_loop(database_url: str) -> None:
    upgrade(database_url)

    assert await _inspect(database_url, _table_names) >= {"team", "integration"}


async def test_downgrade_to_base_drops_every_table(database_url: str) -> None:
    await upgrade_async(database_url)

    await downgrade_async(database_url, "base")

    assert await _inspect(database_url, _table_names) == {"alembic_version"}


def test_migration_of_missing_folder_fails(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path / "missing" / "folder" / "api.db")

    with pytest.raises(FileNotFoundError, match=r"folder '.*folder' of the SQLite"):
        upgrade(url)
