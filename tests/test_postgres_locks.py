"""Named advisory locks on PostgreSQL and the migrations that take one."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from db.locks import MIGRATIONS_LOCK, hold_lock_async, lock_key
from db.migrate import current_revision_async, head_revision, upgrade_async
from tests.database_backend import PostgresDatabases

pytestmark = pytest.mark.postgres

# Seconds that a blocked lock request is given to prove that it waits.
BLOCKED_WAIT = 0.3


@pytest.fixture
async def engine(postgres_databases: PostgresDatabases):
    engine = create_async_engine(postgres_databases.new())
    yield engine
    await engine.dispose()


def test_lock_key_is_stable_signed_64_bit() -> None:
    key = lock_key(MIGRATIONS_LOCK)

    assert key == lock_key(MIGRATIONS_LOCK)
    assert key != lock_key("another lock")
    assert -(2**63) <= key < 2**63


async def _hold_then_mark(engine: AsyncEngine, name: str, marks: list[str]) -> None:
    async with engine.begin() as connection:
        await hold_lock_async(connection, name)
        marks.append(name)


async def test_second_holder_waits_for_commit(engine: AsyncEngine) -> None:
    marks: list[str] = []
    async with engine.begin() as first:
        await hold_lock_async(first, "work")
        waiter = asyncio.create_task(_hold_then_mark(engine, "work", marks))
        await asyncio.sleep(BLOCKED_WAIT)
        marks_while_held = list(marks)

    await asyncio.wait_for(waiter, timeout=10)

    assert marks_while_held == []
    assert marks == ["work"]


async def test_locks_with_other_names_do_not_wait(engine: AsyncEngine) -> None:
    marks: list[str] = []
    async with engine.begin() as first:
        await hold_lock_async(first, "work")

        await asyncio.wait_for(_hold_then_mark(engine, "other", marks), timeout=10)

    assert marks == ["other"]


async def test_rollback_releases_lock(engine: AsyncEngine) -> None:
    marks: list[str] = []
    async with engine.connect() as first:
        await first.begin()
        await hold_lock_async(first, "work")
        await first.rollback()

        await asyncio.wait_for(_hold_then_mark(engine, "work", marks), timeout=10)

    assert marks == ["work"]


async def test_migration_waits_for_lock_holder(
    postgres_databases: PostgresDatabases,
) -> None:
    url = postgres_databases.new()
    engine = create_async_engine(url)
    try:
        async with engine.begin() as holder:
            await hold_lock_async(holder, MIGRATIONS_LOCK)
            migration = asyncio.create_task(upgrade_async(url))
            await asyncio.sleep(BLOCKED_WAIT)
            tables_while_held = await holder.scalar(
                text("SELECT count(*) FROM pg_tables WHERE tablename = 'team'")
            )
        await asyncio.wait_for(migration, timeout=30)
    finally:
        await engine.dispose()

    assert tables_while_held == 0
    assert await current_revision_async(url) == head_revision()
