"""Leases: which lifecycle run owns an integrated account right now.

A run claims the account in a short write transaction with one conditional
UPDATE, which succeeds only while no other run holds a live lease. The
upstream calls then happen outside any transaction, and the run's result is
written with the lease released. Because the claim is a single statement
that the database serializes, this works across processes on SQLite and
PostgreSQL alike.

A live run renews its lease (see `LeaseKeeper`), so a lease expires only
when its process stopped. Recovery (`graphql_api.lifecycle.recovery`) and
later claims treat an expired lease as free.

Renewal and release find the held rows by id whenever the caller passes
them, because no index covers ``lease_id``. A scan of a large account table by
``lease_id`` would hold SQLite's write lock for its whole length.
"""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from db import models
from db.session import Database
from db.types import utc_now
from graphql_api.lifecycle.periodic import Periodic

ACCOUNT = models.IntegratedAccount.__table__  # type: ignore[attr-defined]
# Polling delays while waiting for another run's lease, in seconds.
FIRST_POLL_DELAY = 0.02
MAX_POLL_DELAY = 0.5
# Maximum account ids in the IN list of one renewal or release statement,
# well below the bound-parameter limits of SQLite (32,766) and asyncpg (32,767).
IDS_PER_STATEMENT = 1000


def new_lease_id() -> str:
    """Return a random lease id of 32 hex characters."""
    return secrets.token_hex(16)


def lease_is_free(now: datetime) -> ColumnElement[bool]:
    """Match accounts that no live run holds."""
    return or_(
        ACCOUNT.c.lease_id.is_(None),
        ACCOUNT.c.lease_expires_at.is_(None),
        ACCOUNT.c.lease_expires_at <= now,
    )


def released_values() -> dict[str, Any]:
    """Column values that release a lease, for an UPDATE."""
    return {"lease_id": None, "lease_operation": None, "lease_expires_at": None}


@dataclass(frozen=True, slots=True)
class Lease:
    """A claimed lease: its id, its operation and how long it lasts.

    `account_id` is the one account of a single-account run. It is None for
    a bulk run, which passes the ids of its leased accounts to `renew` and
    `release`.
    """

    lease_id: str
    operation: str
    seconds: float
    account_id: uuid.UUID | None = None

    def expiry(self, now: datetime | None = None) -> datetime:
        """Return when the lease expires if it is renewed at `now`."""
        return (now or utc_now()) + timedelta(seconds=self.seconds)


async def claim(
    database: Database, account_id: uuid.UUID, operation: str, seconds: float
) -> Lease | None:
    """Claim the lease of one account, or return None while another run holds it."""
    lease = Lease(new_lease_id(), operation, seconds, account_id)
    async with database.write_session() as session:
        claimed = await claim_in_session(session, [account_id], lease)
    return lease if claimed else None


async def lock_in_id_order(
    session: AsyncSession, condition: ColumnElement[bool]
) -> None:
    """Lock the matching account rows in id order before a multi-row write.

    On PostgreSQL an UPDATE locks rows in the order it finds them, so a lease
    renewal and a batch of results written for the same lease could lock
    their rows in opposite orders and deadlock. Every multi-row writer of
    leased rows takes its locks here first, always in id order. SQLite has no
    row locks (its write transaction locks the database), so SQLAlchemy
    leaves FOR UPDATE out there, and this function skips the query.
    """
    if session.get_bind().dialect.name == "sqlite":
        return
    await session.execute(
        select(ACCOUNT.c.id).where(condition).order_by(ACCOUNT.c.id).with_for_update()
    )


async def claim_in_session(
    session: AsyncSession, account_ids: Collection[uuid.UUID], lease: Lease
) -> int:
    """Claim the lease of every free account in `account_ids`; return the count."""
    now = utc_now()
    await lock_in_id_order(session, ACCOUNT.c.id.in_(list(account_ids)))
    statement = (
        update(ACCOUNT)
        .where(ACCOUNT.c.id.in_(list(account_ids)), lease_is_free(now))
        .values(
            lease_id=lease.lease_id,
            lease_operation=lease.operation,
            lease_expires_at=lease.expiry(now),
        )
    )
    result = await session.execute(statement)
    return int(result.rowcount)  # type: ignore[attr-defined]


async def release(
    database: Database,
    lease: Lease,
    account_ids: Collection[uuid.UUID] | None = None,
) -> None:
    """Release the accounts that `lease` still holds, changing nothing else.

    The rows are looked up as `held_row_conditions` describes.
    """
    conditions = list(held_row_conditions(lease, account_ids))
    if not conditions:
        return
    async with database.write_session() as session:
        for condition in conditions:
            await lock_in_id_order(session, condition)
            await session.execute(
                update(ACCOUNT).where(condition).values(**released_values())
            )


async def renew(
    database: Database,
    lease: Lease,
    account_ids: Collection[uuid.UUID] | None = None,
) -> int:
    """Push back the expiry of the accounts that `lease` holds; return their count.

    The rows are looked up as `held_row_conditions` describes.
    """
    conditions = list(held_row_conditions(lease, account_ids))
    if not conditions:
        return 0
    renewed = 0
    async with database.write_session() as session:
        expiry = lease.expiry()
        for condition in conditions:
            await lock_in_id_order(session, condition)
            result = await session.execute(
                update(ACCOUNT).where(condition).values(lease_expires_at=expiry)
            )
            renewed += int(result.rowcount)  # type: ignore[attr-defined]
    return renewed


def held_row_conditions(
    lease: Lease, account_ids: Collection[uuid.UUID] | None
) -> Iterator[ColumnElement[bool]]:
    """Yield the conditions that together match the rows that `lease` holds.

    The rows are looked up by id: the lease's own `account_id`, else
    `account_ids` in id-ordered slices of `IDS_PER_STATEMENT`, so that the
    row locks of consecutive statements follow id order too. Only when both
    are None does one condition match by ``lease_id`` alone, which scans the
    table.
    """
    held = ACCOUNT.c.lease_id == lease.lease_id
    if lease.account_id is not None:
        yield and_(ACCOUNT.c.id == lease.account_id, held)
        return
    if account_ids is None:
        yield held
        return
    ordered = sorted(account_ids)
    for start in range(0, len(ordered), IDS_PER_STATEMENT):
        batch = ordered[start : start + IDS_PER_STATEMENT]
        yield and_(ACCOUNT.c.id.in_(batch), held)


class LeaseKeeper(Periodic):
    """Renews a lease every third of its length inside ``async with``.

    Use it around the upstream calls of a run. A failed renewal is logged and
    retried at the next tick, while the lease still has two thirds of its
    time left. A bulk run passes the live set of ids that it holds as
    `account_ids`, and each renewal reads it afresh.
    """

    def __init__(
        self,
        database: Database,
        lease: Lease,
        account_ids: Collection[uuid.UUID] | None = None,
    ) -> None:
        super().__init__(
            lease.seconds / 3,
            lambda: renew(database, lease, _snapshot(account_ids)),
            f"lease_renewal_failed lease_id={lease.lease_id}",
        )


def _snapshot(
    account_ids: Collection[uuid.UUID] | None,
) -> list[uuid.UUID] | None:
    # The bulk run changes its set while a renewal awaits the database.
    return None if account_ids is None else list(account_ids)


@dataclass(frozen=True, slots=True)
class LeaseState:
    """The lease columns of one account, as read at one moment."""

    exists: bool
    lease_id: str | None
    expires_at: datetime | None

    def is_live(self, now: datetime) -> bool:
        """Tell whether a run holds the lease at `now`."""
        return (
            self.lease_id is not None
            and self.expires_at is not None
            and self.expires_at > now
        )


async def read_lease(database: Database, account_id: uuid.UUID) -> LeaseState:
    """Read the lease columns of one account."""
    query = select(ACCOUNT.c.lease_id, ACCOUNT.c.lease_expires_at).where(
        ACCOUNT.c.id == account_id
    )
    async with database.read_session() as session:
        row = (await session.execute(query)).first()
    if row is None:
        return LeaseState(exists=False, lease_id=None, expires_at=None)
    return LeaseState(exists=True, lease_id=row[0], expires_at=row[1])


async def wait_for_lease(
    database: Database, account_id: uuid.UUID, timeout: float
) -> LeaseState | None:
    """Wait until no live run holds the account, and return its lease columns then.

    Returns None when `timeout` seconds passed first. A state whose `lease_id`
    is None means the holder finished. A state with an expired lease means the
    holder's process stopped. Polls with a delay that doubles from
    `FIRST_POLL_DELAY` up to `MAX_POLL_DELAY`.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    delay = FIRST_POLL_DELAY
    while True:
        state = await read_lease(database, account_id)
        if not state.exists or not state.is_live(utc_now()):
            return state
        remaining = deadline - loop.time()
        if remaining <= 0:
            return None
        await asyncio.sleep(min(delay, remaining))
        delay = min(delay * 2, MAX_POLL_DELAY)
