"""Results of a bulk revalidation: the counts, and the writer of each result.

`ResultWriter` collects the runs' results and writes them in batches, in one
short write transaction each, with executemany UPDATEs and INSERTs, so the
SQLite write lock is never held across an upstream call. It also releases
the leases of accounts whose run left nothing to write.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from db import models
from db.session import Database
from db.types import utc_now
from graphql_api.lifecycle import lease as leases
from graphql_api.lifecycle.events import account_payload, new_event, status_event
from graphql_api.lifecycle.lease import ACCOUNT, Lease
from graphql_api.lifecycle.outcome import Operation, Outcome
from graphql_api.lifecycle.periodic import Periodic
from graphql_api.lifecycle.run import AccountRun
from graphql_api.lifecycle.store import Configs
from graphql_api.secrets import mark_context_secrets

# Results written per transaction, and the maximum time in seconds that a
# result waits for one.
FLUSH_SIZE = 250
FLUSH_INTERVAL = 0.05
EVENT = models.Event.__table__  # type: ignore[attr-defined]


@dataclass(slots=True)
class BulkResult:
    """Counts of one bulk revalidation.

    `status_counts` counts the revalidated accounts by their status after the
    run, and `problem_counts` counts the problems by code. `skipped` accounts
    were held by another run and left alone.
    """

    matched: int = 0
    revalidated: int = 0
    skipped: int = 0
    status_counts: Counter[str] = field(default_factory=Counter)
    problem_counts: Counter[str] = field(default_factory=Counter)


@dataclass(slots=True)
class ClaimedAccount:
    """A claimed account, as its column values, and its install's configs."""

    row: Mapping[str, Any]
    configs: Configs


@dataclass(slots=True)
class FinishedRun:
    """A claimed account after its run."""

    account: ClaimedAccount
    run: AccountRun
    outcome: Outcome


class ResultWriter:
    """Collects run results and leases to release, and writes them in batches.

    Each written or released account leaves `held_ids`.
    """

    def __init__(
        self,
        database: Database,
        lease: Lease,
        result: BulkResult,
        held_ids: set[uuid.UUID],
    ) -> None:
        self.database = database
        self.lease = lease
        self.result = result
        self.held_ids = held_ids
        self._pending: list[FinishedRun] = []
        self._releases: list[uuid.UUID] = []
        self._lock = asyncio.Lock()
        self._flusher = Periodic(
            FLUSH_INTERVAL, self.flush, "bulk_revalidation_flush_failed"
        )

    async def __aenter__(self) -> ResultWriter:
        await self._flusher.__aenter__()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self._flusher.__aexit__()
        await self.flush()

    async def add(self, done: FinishedRun) -> None:
        """Queue a result; write the batch once it is full."""
        self._pending.append(done)
        if len(self._pending) >= FLUSH_SIZE:
            await self.flush()

    async def release(self, account_id: uuid.UUID) -> None:
        """Queue the release of an account whose run left no result to write."""
        self._releases.append(account_id)
        if len(self._releases) >= FLUSH_SIZE:
            await self.flush()

    async def flush(self) -> None:
        """Write every queued result and release in one transaction."""
        async with self._lock:
            results, self._pending = self._pending, []
            releases, self._releases = self._releases, []
            if results or releases:
                await self.write_batch(results, releases)
            self.held_ids.difference_update(done.account.row["id"] for done in results)
            self.held_ids.difference_update(releases)

    async def write_batch(
        self, results: list[FinishedRun], releases: list[uuid.UUID]
    ) -> None:
        """Write `results` and release `releases` in one transaction.

        `flush` calls it under the writer's lock. Concurrent batches must not
        share accounts.
        """
        now = utc_now()
        changed = [done.account.row["id"] for done in results if done.run.changed_keys]
        written = [done.account.row["id"] for done in results]
        async with self.database.write_session() as session:
            await leases.lock_in_id_order(session, ACCOUNT.c.id.in_(written + releases))
            stored = await _stored_contexts(session, changed)
            plain: list[dict[str, Any]] = []
            with_context: list[dict[str, Any]] = []
            events: list[dict[str, Any]] = []
            for done in results:
                params, event = self._apply(done, stored, now)
                (with_context if "b_context" in params else plain).append(params)
                if event is not None:
                    events.append(event)
            for batch, include_context in ((plain, False), (with_context, True)):
                if batch:
                    await session.execute(
                        _update_statement(self.lease, include_context), batch
                    )
            if events:
                await session.execute(insert(EVENT), events)
            if releases:
                await session.execute(
                    _release_statement(self.lease),
                    [{"b_id": account_id} for account_id in releases],
                )

    def _apply(
        self,
        done: FinishedRun,
        stored: dict[uuid.UUID, dict[str, Any]],
        now: datetime,
    ) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """Return the UPDATE parameters of a result and its event values, if any."""
        row, run, outcome = done.account.row, done.run, done.outcome
        values = _result_values(row, run, outcome, now)
        if row["id"] in stored:
            values["context"] = _merged(stored[row["id"]], run)
        self.result.revalidated += 1
        self.result.status_counts[values["status"]] += 1
        for problem in outcome.problems:
            self.result.problem_counts[problem.code] += 1
        params = {f"b_{name}": value for name, value in values.items()}
        params["b_id"] = row["id"]
        event_type = status_event(
            str(row["status"]), values["status"], reconnected=False
        )
        if event_type is None:
            return params, None
        after = {**row, **values}
        configs = done.account.configs
        payload = account_payload(after, configs.integration, configs.override)
        event = new_event(event_type, after, payload, at=now)
        return params, _event_values(event)


def _result_values(
    row: Mapping[str, Any], run: AccountRun, outcome: Outcome, now: datetime
) -> dict[str, Any]:
    """Return the column values that a run's result sets, context aside."""
    status, last_error = str(row["status"]), row["last_error"]
    if outcome.status is not None:
        status, last_error = outcome.status.value, outcome.last_error
    expires_at, refreshed_at = row["credentials_expire_at"], row["last_refreshed_at"]
    if run.token is not None:
        expires_at, refreshed_at = run.token.expires_at, run.refreshed_at
    return {
        "status": status,
        "last_error": last_error,
        "last_action_result": run.record(Operation.BULK_REVALIDATE, outcome.failure),
        "credentials_expire_at": expires_at,
        "last_refreshed_at": refreshed_at,
        "last_validated_at": run.validated_at or row["last_validated_at"],
        "updated_at": now,
    }


def _merged(stored: dict[str, Any], run: AccountRun) -> dict[str, Any]:
    """Merge the context keys that a run changed into the stored context.

    The result marks the password fields that the effective config declares,
    so that they are stored encrypted (see `db.crypto`).
    """
    context = dict(stored)
    for key in run.changed_keys:
        if key in run.context:
            context[key] = run.context[key]
        else:
            context.pop(key, None)
    return mark_context_secrets(context, run.target.config)


async def _stored_contexts(
    session: AsyncSession, account_ids: list[uuid.UUID]
) -> dict[uuid.UUID, dict[str, Any]]:
    """Read the stored contexts of accounts whose run changed context keys."""
    if not account_ids:
        return {}
    query = select(ACCOUNT.c.id, ACCOUNT.c.context).where(ACCOUNT.c.id.in_(account_ids))
    rows = (await session.execute(query)).all()
    return {row_id: context or {} for row_id, context in rows}


def _update_statement(lease: Lease, include_context: bool) -> Any:
    values: dict[str, Any] = {
        "status": bindparam("b_status"),
        "last_error": bindparam("b_last_error"),
        "last_action_result": bindparam("b_last_action_result"),
        "credentials_expire_at": bindparam("b_credentials_expire_at"),
        "last_refreshed_at": bindparam("b_last_refreshed_at"),
        "last_validated_at": bindparam("b_last_validated_at"),
        "updated_at": bindparam("b_updated_at"),
        **leases.released_values(),
    }
    if include_context:
        values["context"] = bindparam("b_context")
    return (
        update(ACCOUNT)
        .where(ACCOUNT.c.id == bindparam("b_id"), ACCOUNT.c.lease_id == lease.lease_id)
        .values(**values)
    )


def _release_statement(lease: Lease) -> Any:
    return (
        update(ACCOUNT)
        .where(ACCOUNT.c.id == bindparam("b_id"), ACCOUNT.c.lease_id == lease.lease_id)
        .values(**leases.released_values())
    )


def _event_values(event: models.Event) -> dict[str, Any]:
    return {
        "id": uuid.uuid4(),
        "type": event.type,
        "environment_id": event.environment_id,
        "integrated_account_id": event.integrated_account_id,
        "integration_id": event.integration_id,
        "payload": event.payload,
        "created_at": event.created_at,
    }
