"""The migrated schema on PostgreSQL: native types, collations, the models.

Alembic's comparison of models and database ignores collations, so these
tests read them from ``information_schema`` and compare them with the
models' declarations for the PostgreSQL dialect.
"""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine
from sqlmodel import SQLModel

import db.models  # noqa: F401  (registers the tables on SQLModel.metadata)
from db.migrate import downgrade_async, upgrade_async
from db.types import GUID, UTCDateTime
from tests.database_backend import PostgresDatabases, fetch_all

pytestmark = pytest.mark.postgres

COLUMNS = sa.text(
    "SELECT table_name, column_name, data_type, collation_name "
    "FROM information_schema.columns WHERE table_schema = 'public'"
)


@pytest.fixture
def migrated_url(postgres_databases: PostgresDatabases) -> str:
    return postgres_databases.new_migrated()


def _columns(url: str) -> dict[tuple[str, str], tuple[str, str | None]]:
    return {
        (table, column): (data_type, collation)
        for table, column, data_type, collation in fetch_all(url, COLUMNS)
    }


def _declared(kind: type[sa.types.TypeEngine[Any]]) -> list[tuple[str, str]]:
    """Return (table, column) of every model column whose type is a `kind`."""
    return [
        (table.name, column.name)
        for table in SQLModel.metadata.tables.values()
        for column in table.columns
        if isinstance(column.type, kind)
    ]


def _postgres_collation(column: sa.Column[Any]) -> str | None:
    impl = column.type.dialect_impl(postgresql.dialect())
    return getattr(impl, "collation", None)


async def test_models_and_migrations_agree_on_postgres(
    postgres_databases: PostgresDatabases,
) -> None:
    url = postgres_databases.new_migrated()

    def differences(connection: Connection) -> list[Any]:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, SQLModel.metadata))

    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:
            assert await connection.run_sync(differences) == []
    finally:
        await engine.dispose()


def test_json_columns_are_jsonb(migrated_url: str) -> None:
    columns = _columns(migrated_url)
    json_columns = _declared(sa.JSON)

    assert json_columns
    for key in json_columns:
        assert columns[key][0] == "jsonb", key


def test_timestamps_are_timestamptz(migrated_url: str) -> None:
    columns = _columns(migrated_url)
    timestamp_columns = _declared(UTCDateTime)

    assert len(timestamp_columns) >= 10
    for key in timestamp_columns:
        assert columns[key][0] == "timestamp with time zone", key


def test_ids_are_native_uuids(migrated_url: str) -> None:
    columns = _columns(migrated_url)
    id_columns = _declared(GUID)

    assert ("integrated_account", "id") in id_columns
    for key in id_columns:
        assert columns[key][0] == "uuid", key


def test_text_collations_match_models(migrated_url: str) -> None:
    columns = _columns(migrated_url)

    declared = {
        (table.name, column.name): _postgres_collation(column)
        for table in SQLModel.metadata.tables.values()
        for column in table.columns
        if isinstance(column.type.dialect_impl(postgresql.dialect()), sa.String)
    }

    assert declared[("integrated_account", "tenant_id")] == "C"
    assert {key: columns[key][1] for key in declared} == declared


async def test_downgrade_restores_default_collation(
    postgres_databases: PostgresDatabases,
) -> None:
    url = postgres_databases.new_migrated()

    await downgrade_async(url, "0002")
    after_downgrade = _columns(url)[("integrated_account", "tenant_id")]
    await upgrade_async(url)

    assert after_downgrade == ("character varying", None)
    assert _columns(url)[("integrated_account", "tenant_id")][1] == "C"
