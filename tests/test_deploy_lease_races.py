"""A run that finishes while another process takes over its expired lease.

A run's result is written in one transaction that reads the account, checks
that the run still holds the lease, and writes. Another process may claim
the account in between once the lease has expired. The read must lock the
row (``SELECT ... FOR UPDATE`` on PostgreSQL; SQLite's write transaction
locks the whole database), so that the claim waits for the write and then
finds the lease released. Without the lock, the write would release the
new owner's lease and overwrite its work.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event, update

from db import models
from db.session import Database
from db.types import utc_now
from graphql_api.lifecycle import lease as leases
from graphql_api.lifecycle.store import store_context
from tests.conftest import Seeder, make_tenant

# Seconds that the competing claim is given to run while the finishing write
# holds the row, long enough for an unblocked claim to commit.
CLAIM_GRACE_SECONDS = 0.5


@pytest.fixture
async def database(migrated_database_url: str) -> AsyncIterator[Database]:
    database = Database(migrated_database_url)
    yield database
    await database.dispose()


def _seed_account(url: str) -> uuid.UUID:
    seeder = Seeder(url)
    try:
        tenant = make_tenant(seeder)
        install = seeder.install(tenant.production, seeder.integration(tenant.team))
        return seeder.account(install, status="active", context={"n": 1}).id
    finally:
        seeder.close()


async def _expire(database: Database, account_id: uuid.UUID) -> None:
    async with database.write_session() as session:
        await session.execute(
            update(leases.ACCOUNT)
            .where(leases.ACCOUNT.c.id == account_id)
            .values(lease_expires_at=utc_now() - timedelta(seconds=1))
        )


class CompetingClaim:
    """Claims the account from another thread, as a second process would."""

    def __init__(self, url: str, account_id: uuid.UUID) -> None:
        self.url = url
        self.account_id = account_id
        self.lease: leases.Lease | None = None
        self.finished = threading.Event()
        self._thread = threading.Thread(target=asyncio.run, args=(self._claim(),))

    async def _claim(self) -> None:
        database = Database(self.url)
        try:
            self.lease = await leases.claim(
                database, self.account_id, "reauthorize", 30
            )
        finally:
            await database.dispose()
            self.finished.set()

    def start(self) -> None:
        self._thread.start()

    def join(self) -> None:
        self._thread.join(timeout=60)


async def test_finishing_write_blocks_takeover(
    database: Database, migrated_database_url: str
) -> None:
    account_id = _seed_account(migrated_database_url)
    first = await leases.claim(database, account_id, "revalidate", 30)
    assert first is not None
    await _expire(database, account_id)
    competitor = CompetingClaim(migrated_database_url, account_id)
    finished_while_held: list[bool] = []

    def before_write(*args: Any) -> None:
        # Runs inside the finishing transaction, after the row was read and
        # before it is written, as a claim by another process could.
        if args[2].lstrip().upper().startswith("UPDATE") and not finished_while_held:
            competitor.start()
            finished_while_held.append(competitor.finished.wait(CLAIM_GRACE_SECONDS))

    event.listen(database.engine.sync_engine, "before_cursor_execute", before_write)
    try:
        stored = await store_context(database, account_id, first, {"n": 2}, None)
    finally:
        event.remove(database.engine.sync_engine, "before_cursor_execute", before_write)
    await asyncio.to_thread(competitor.join)

    async with database.read_session() as session:
        row = await session.get(models.IntegratedAccount, account_id)
    assert stored is not None
    assert finished_while_held == [False]
    assert competitor.lease is not None
    assert row is not None
    assert row.lease_id == competitor.lease.lease_id
    assert row.context == {"n": 2}
