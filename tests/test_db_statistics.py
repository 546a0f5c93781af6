"""SQLite gets planner statistics when they are missing or stale."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from db.migrate import upgrade
from db.session import Database
from db.statistics import refresh_statistics
from tests.conftest import Seeder, make_tenant


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """A migrated SQLite file, whatever the backend of the run."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'statistics.db'}"
    upgrade(url)
    return url


@pytest.fixture
def seeder(database_url: str) -> Iterator[Seeder]:
    writer = Seeder(database_url)
    yield writer
    writer.close()


def _refresh(seeder: Seeder, database_url: str) -> list[str]:
    async def run() -> list[str]:
        database = Database(database_url)
        try:
            return await refresh_statistics(database)
        finally:
            await database.dispose()

    return asyncio.run(run())


def _add_accounts(seeder: Seeder, count: int) -> None:
    tenant = make_tenant(seeder)
    install = seeder.install(tenant.production, seeder.integration(tenant.team))
    seeder.add(*(seeder.account_row(install) for _ in range(count)))


def _analysed_rows(database_url: str) -> int:
    path = database_url.split(":///", 1)[1]
    with contextlib.closing(sqlite3.connect(path)) as connection:
        stat = connection.execute(
            "SELECT stat FROM sqlite_stat1 WHERE tbl = 'integrated_account' "
            "AND idx = 'ix_integrated_account_created_at_id'"
        ).fetchone()
    return int(stat[0].split()[0])


def test_empty_tables_are_left_alone(seeder: Seeder, database_url: str) -> None:
    assert _refresh(seeder, database_url) == []


def test_tables_without_statistics_are_analysed(
    seeder: Seeder, database_url: str
) -> None:
    _add_accounts(seeder, 40)

    analysed = _refresh(seeder, database_url)

    assert "integrated_account" in analysed
    assert _analysed_rows(database_url) == 40


def test_fresh_statistics_are_kept(seeder: Seeder, database_url: str) -> None:
    _add_accounts(seeder, 40)
    _refresh(seeder, database_url)
    _add_accounts(seeder, 30)

    assert "integrated_account" not in _refresh(seeder, database_url)
    assert _analysed_rows(database_url) == 40


def test_grown_tables_are_analysed_again(seeder: Seeder, database_url: str) -> None:
    _add_accounts(seeder, 40)
    _refresh(seeder, database_url)
    _add_accounts(seeder, 50)

    assert "integrated_account" in _refresh(seeder, database_url)
    assert _analysed_rows(database_url) == 90


def test_postgres_is_left_to_autovacuum() -> None:
    # Nothing listens on this port: a refresh that connected would fail.
    database = Database("postgresql+asyncpg://graphql:unused@127.0.0.1:9/none")

    assert asyncio.run(refresh_statistics(database)) == []


def test_database_without_tables_is_left_alone(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"

    async def run() -> list[str]:
        database = Database(url)
        try:
            return await refresh_statistics(database)
        finally:
            await database.dispose()

    assert asyncio.run(run()) == []
