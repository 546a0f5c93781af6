"""Lease renewals racing bulk result writes on the same leased rows.

A bulk revalidation renews its lease with one UPDATE of many rows while
its result writer updates the same rows one by one, in the order that the
runs finished. On PostgreSQL each statement locks rows in the order it
reaches them, so without a common lock order the two transactions can each
hold a row that the other waits for, and the server aborts one with
``deadlock detected``. `lease.lock_in_id_order` makes every writer lock in
id order first. SQLite runs one write transaction at a time, so there the
test checks that every result survives the interleaving.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import AsyncIterator, Sequence
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from config_engine.engine import Engine
from db.enums import IntegratedAccountStatus as Status
from db.session import Database
from graphql_api.lifecycle import lease as leases
from graphql_api.lifecycle.bulk import _READ_COLUMNS
from graphql_api.lifecycle.bulk_results import (
    BulkResult,
    ClaimedAccount,
    FinishedRun,
    ResultWriter,
)
from graphql_api.lifecycle.lease import ACCOUNT, Lease
from graphql_api.lifecycle.outcome import Operation, Outcome
from graphql_api.lifecycle.run import AccountRun, RunTarget
from graphql_api.lifecycle.store import Configs
from tests.conftest import Seeder, make_tenant

ACCOUNT_COUNT = 240
ROUNDS = 12
# Result writers per round, each with its own share of the rows.
WRITERS = 3
# Renewal loops per round, each on its own connection: one finds the rows by
# lease id and one by account ids.
RENEWERS = 2
LEASE_SECONDS = 300.0
CONFIGS = Configs({"base_url": "http://127.0.0.1:9/api"}, {})


@pytest.fixture
async def database(migrated_database_url: str) -> AsyncIterator[Database]:
    # Room for every writer and renewer to hold its own connection at once.
    database = Database(migrated_database_url, pool_size=WRITERS + RENEWERS + 2)
    yield database
    await database.dispose()


@pytest.fixture
async def engine() -> AsyncIterator[Engine]:
    # The runs are built by hand and send nothing, but an Engine needs a client.
    async with httpx.AsyncClient(trust_env=False) as client:
        yield Engine(client=client)


def _seed_accounts(url: str) -> list[uuid.UUID]:
    seeder = Seeder(url)
    try:
        tenant = make_tenant(seeder)
        integration = seeder.integration(tenant.team, config=dict(CONFIGS.integration))
        install = seeder.install(tenant.production, integration)
        rows = [
            seeder.account_row(install, status=Status.VALIDATION_ERROR.value)
            for _ in range(ACCOUNT_COUNT)
        ]
        seeder.add(*rows)
        return [row.id for row in rows]
    finally:
        seeder.close()


async def _lease_all(database: Database, lease: Lease) -> None:
    async with database.write_session() as session:
        await session.execute(
            update(ACCOUNT).values(
                lease_id=lease.lease_id,
                lease_operation=lease.operation,
                lease_expires_at=lease.expiry(),
            )
        )


async def _read_rows(database: Database) -> dict[uuid.UUID, dict[str, Any]]:
    columns = [ACCOUNT.c[name] for name in _READ_COLUMNS]
    async with database.read_session() as session:
        result = await session.execute(select(*columns))
        return {row.id: dict(row._mapping) for row in result}


def _results(
    rows: Sequence[dict[str, Any]], engine: Engine, marker: str
) -> list[FinishedRun]:
    """Build finished runs that keep each status and set `marker` as last_error."""
    target = RunTarget(CONFIGS.integration, None, None, False)
    outcome = Outcome(Status.VALIDATION_ERROR, marker)
    return [
        FinishedRun(
            ClaimedAccount(row, CONFIGS), AccountRun(engine, target, {}), outcome
        )
        for row in rows
    ]


async def _renew_until(
    database: Database,
    lease: Lease,
    account_ids: list[uuid.UUID] | None,
    done: asyncio.Event,
) -> int:
    renewals = 0
    while not done.is_set():
        await leases.renew(database, lease, account_ids)
        renewals += 1
    return renewals


async def _race_round(
    database: Database,
    engine: Engine,
    lease: Lease,
    rows: list[dict[str, Any]],
    account_ids: list[uuid.UUID],
    marker: str,
) -> int:
    """Write results for `rows` in shares while renewals run, and count renewals.

    One renewal loop finds the rows by ``lease_id`` alone and the other by
    the ids of every account, as a bulk run does.
    """
    writer = ResultWriter(database, lease, BulkResult(), set())
    shares = [rows[index::WRITERS] for index in range(WRITERS)]
    writes_done = asyncio.Event()
    renewers = [
        asyncio.create_task(_renew_until(database, lease, ids, writes_done))
        for ids in (None, account_ids)
    ]
    try:
        # `flush` takes the writer's lock and would write the shares one after
        # another, so each share calls `write_batch` to let them overlap.
        await asyncio.gather(
            *(
                writer.write_batch(_results(share, engine, marker), [])
                for share in shares
            )
        )
    finally:
        writes_done.set()
        renewals = await asyncio.gather(*renewers)
    return sum(renewals)


async def test_renewals_and_result_writes_never_deadlock(
    database: Database, engine: Engine, migrated_database_url: str
) -> None:
    account_ids = _seed_accounts(migrated_database_url)
    shuffle = random.Random(20261204)
    lease = Lease(leases.new_lease_id(), Operation.BULK_REVALIDATE, LEASE_SECONDS)
    renewals = 0

    for round_number in range(ROUNDS):
        await _lease_all(database, lease)
        rows = list((await _read_rows(database)).values())
        shuffle.shuffle(rows)
        # Half of the rows keep their lease, so that renewals still find rows
        # to lock after the writes released theirs.
        written = rows[: len(rows) // 2]
        marker = f"round {round_number}"

        renewals += await _race_round(
            database, engine, lease, written, account_ids, marker
        )

        stored = await _read_rows(database)
        async with database.read_session() as session:
            leased = set(
                await session.scalars(
                    select(ACCOUNT.c.id).where(ACCOUNT.c.lease_id == lease.lease_id)
                )
            )
        written_ids = {row["id"] for row in written}
        assert {stored[account_id]["last_error"] for account_id in written_ids} == {
            marker
        }
        assert leased == set(account_ids) - written_ids

    assert renewals >= ROUNDS * RENEWERS
