"""Recovery of lifecycle runs whose process stopped before they finished.

A run's lease expires only when its process stopped renewing it (see
`graphql_api.lifecycle.lease`). An account left CONNECTING by such a run
never finished its connect steps, and the context changes of a post-install
step it may have run are lost, so recovery moves it to POST_INSTALL_ERROR
with a `last_error` that describes what happened, and records the event.
`revalidateIntegratedAccount` then runs post-install and validation again.
Any other stale lease is released and the account keeps its status.

The server runs recovery at start and then once per lease length, so a run
of a stopped process is cleared even while another process keeps serving.
"""

from __future__ import annotations

import logging
import uuid

from sqlalchemy import select, update

from db import models
from db.enums import IntegratedAccountStatus as Status
from db.session import Database
from db.types import utc_now
from graphql_api.lifecycle.events import EventType, add_account_event
from graphql_api.lifecycle.lease import ACCOUNT, released_values

logger = logging.getLogger("graphql_api.lifecycle")

INTERRUPTED_CONNECT_ERROR = (
    "The server stopped before the connect run of this account finished, so "
    "its post-install and validation steps may not have run: run "
    "revalidateIntegratedAccount to run them again."
)


async def recover_stale_runs(database: Database) -> int:
    """Fail or release every run whose lease expired; return how many there were."""
    now = utc_now()
    query = select(ACCOUNT.c.id, ACCOUNT.c.lease_id, ACCOUNT.c.status).where(
        ACCOUNT.c.lease_id.is_not(None), ACCOUNT.c.lease_expires_at <= now
    )
    async with database.read_session() as session:
        stale = (await session.execute(query)).all()
    recovered = 0
    for account_id, lease_id, status in stale:
        if await _recover(database, account_id, lease_id, status == Status.CONNECTING):
            recovered += 1
    return recovered


async def _recover(
    database: Database, account_id: uuid.UUID, lease_id: str, connecting: bool
) -> bool:
    now = utc_now()
    values = released_values()
    if connecting:
        values |= {
            "status": Status.POST_INSTALL_ERROR.value,
            "last_error": INTERRUPTED_CONNECT_ERROR,
            "updated_at": now,
        }
    async with database.write_session() as session:
        # The guard on the lease makes one process win when several recover
        # the same account at once.
        result = await session.execute(
            update(ACCOUNT)
            .where(
                ACCOUNT.c.id == account_id,
                ACCOUNT.c.lease_id == lease_id,
                ACCOUNT.c.lease_expires_at <= now,
                *([ACCOUNT.c.status == Status.CONNECTING.value] if connecting else []),
            )
            .values(**values)
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            return False
        if connecting:
            row = await session.get(models.IntegratedAccount, account_id)
            if row is not None:
                await add_account_event(session, row, EventType.POST_INSTALL_ERROR)
    logger.warning(
        "lifecycle_run_recovered account_id=%s lease_id=%s failed_connect=%s",
        account_id,
        lease_id,
        connecting,
    )
    return True
