"""Lease renewal and release, looked up by account id or by lease id."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select, update

from db.session import Database
from db.types import utc_now
from graphql_api.lifecycle import lease as leases
from graphql_api.lifecycle.lease import ACCOUNT, Lease
from tests.conftest import Seeder, make_tenant

ACCOUNT_COUNT = 5
LEASE_SECONDS = 300.0


@pytest.fixture
async def database(migrated_database_url: str) -> AsyncIterator[Database]:
    database = Database(migrated_database_url)
    yield database
    await database.dispose()


@pytest.fixture
def account_ids(migrated_database_url: str) -> list[uuid.UUID]:
    seeder = Seeder(migrated_database_url)
    try:
        tenant = make_tenant(seeder)
        install = seeder.install(tenant.production, seeder.integration(tenant.team))
        rows = [seeder.account_row(install) for _ in range(ACCOUNT_COUNT)]
        seeder.add(*rows)
        return sorted(row.id for row in rows)
    finally:
        seeder.close()


async def _hold(
    database: Database, lease: Lease, account_ids: list[uuid.UUID], expires: datetime
) -> None:
    async with database.write_session() as session:
        await session.execute(
            update(ACCOUNT)
            .where(ACCOUNT.c.id.in_(account_ids))
            .values(
                lease_id=lease.lease_id,
                lease_operation=lease.operation,
                lease_expires_at=expires,
            )
        )


async def _leases(
    database: Database,
) -> dict[uuid.UUID, tuple[str | None, datetime | None]]:
    query = select(ACCOUNT.c.id, ACCOUNT.c.lease_id, ACCOUNT.c.lease_expires_at)
    async with database.read_session() as session:
        rows = (await session.execute(query)).all()
    return {row.id: (row.lease_id, row.lease_expires_at) for row in rows}


def _bulk_lease() -> Lease:
    return Lease(leases.new_lease_id(), "bulk_revalidate", LEASE_SECONDS)


async def test_renew_by_ids_skips_other_rows(
    database: Database, account_ids: list[uuid.UUID]
) -> None:
    lease = _bulk_lease()
    soon = utc_now() + timedelta(seconds=5)
    await _hold(database, lease, account_ids, soon)

    renewed = await leases.renew(database, lease, account_ids[:2])

    stored = await _leases(database)
    assert renewed == 2
    for account_id in account_ids[:2]:
        expires = stored[account_id][1]
        assert expires is not None
        assert expires > soon + timedelta(seconds=60)
    for account_id in account_ids[2:]:
        assert stored[account_id] == (lease.lease_id, soon)


async def test_renew_skips_rows_of_other_leases(
    database: Database, account_ids: list[uuid.UUID]
) -> None:
    lease, other = _bulk_lease(), _bulk_lease()
    soon = utc_now() + timedelta(seconds=5)
    await _hold(database, lease, account_ids[:2], soon)
    await _hold(database, other, account_ids[2:], soon)

    renewed = await leases.renew(database, lease, account_ids)

    stored = await _leases(database)
    assert renewed == 2
    for account_id in account_ids[2:]:
        assert stored[account_id] == (other.lease_id, soon)


async def test_renew_splits_long_id_lists(
    database: Database, account_ids: list[uuid.UUID], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(leases, "IDS_PER_STATEMENT", 2)
    lease = _bulk_lease()
    await _hold(database, lease, account_ids, utc_now() + timedelta(seconds=5))

    renewed = await leases.renew(database, lease, account_ids)

    assert renewed == ACCOUNT_COUNT


async def test_renew_without_ids_matches_lease_id(
    database: Database, account_ids: list[uuid.UUID]
) -> None:
    lease = _bulk_lease()
    await _hold(database, lease, account_ids[1:], utc_now() + timedelta(seconds=5))

    renewed = await leases.renew(database, lease)

    assert renewed == ACCOUNT_COUNT - 1


async def test_renew_of_no_ids_changes_nothing(
    database: Database, account_ids: list[uuid.UUID]
) -> None:
    lease = _bulk_lease()
    await _hold(database, lease, account_ids, utc_now() + timedelta(seconds=5))
    before = await _leases(database)

    renewed = await leases.renew(database, lease, [])

    assert renewed == 0
    assert await _leases(database) == before


async def test_release_by_ids_keeps_other_rows(
    database: Database, account_ids: list[uuid.UUID]
) -> None:
    lease = _bulk_lease()
    soon = utc_now() + timedelta(seconds=5)
    await _hold(database, lease, account_ids, soon)

    await leases.release(database, lease, account_ids[:3])

    stored = await _leases(database)
    for account_id in account_ids[:3]:
        assert stored[account_id] == (None, None)
    for account_id in account_ids[3:]:
        assert stored[account_id] == (lease.lease_id, soon)


async def test_claimed_lease_releases_its_account(
    database: Database, account_ids: list[uuid.UUID]
) -> None:
    first, second = account_ids[:2]
    lease = await leases.claim(database, first, "revalidate", LEASE_SECONDS)
    assert lease is not None
    # No claim gives a second row the same lease id. This one shows that the
    # release finds the claimed account by its id.
    await _hold(database, lease, [second], utc_now() + timedelta(seconds=5))

    await leases.release(database, lease)

    stored = await _leases(database)
    assert lease.account_id == first
    assert stored[first] == (None, None)
    assert stored[second][0] == lease.lease_id
