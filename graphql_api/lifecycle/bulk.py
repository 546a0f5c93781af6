"""Revalidation of many accounts at once, with bounded upstream concurrency.

The accounts that match a filter are claimed in chunks, each with one
UPDATE under one lease id shared by the whole call, and one renewal keeps
every claimed account leased. Accounts leased by another run are skipped.

Each integration has a lane of `Settings.lifecycle_concurrency` workers, so
at most that many of its accounts talk to the upstream at once. When the
engine waits out a rate limit (a 429 with Retry-After, say), the lane holds
the integration's other accounts back for the same time, so that they do not
run into the same limit.

Results are written in batches, in one short write transaction each, with
executemany UPDATEs and INSERTs, so the SQLite write lock is never held
across an upstream call. A refreshed token is the exception: it is stored at
once in its own transaction, because the vendor may have rotated the refresh
token already.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx
from sqlalchemy import ColumnElement, bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from config_engine.engine import Engine
from config_engine.rate_limit import OnWait, RetryWait
from db import models
from db.enums import IntegratedAccountStatus as Status
from db.session import Database
from db.types import utc_now
from graphql_api.lifecycle import lease as leases
from graphql_api.lifecycle.errors import LifecycleRejected
from graphql_api.lifecycle.events import (
    PAYLOAD_COLUMNS,
    account_payload,
    new_event,
    status_event,
)
from graphql_api.lifecycle.lease import ACCOUNT, Lease, LeaseKeeper
from graphql_api.lifecycle.outcome import Operation, Outcome, TokenPolicy, run_steps
from graphql_api.lifecycle.periodic import Periodic
from graphql_api.lifecycle.run import AccountRun, RunTarget
from graphql_api.lifecycle.service import LifecycleService
from graphql_api.lifecycle.store import Configs, checkpoint_token
from graphql_api.lifecycle.targets import authentication, effective
from graphql_api.secrets import mark_context_secrets

logger = logging.getLogger("graphql_api.lifecycle")

# Accounts claimed per UPDATE, and the maximum number of claimed accounts that
# wait for a worker.
CHUNK_SIZE = 500
# Results written per transaction, and the maximum time in seconds that a
# result waits for one.
FLUSH_SIZE = 250
FLUSH_INTERVAL = 0.05
EVENT = models.Event.__table__  # type: ignore[attr-defined]
# The account columns that a run reads. `last_action_result` is only written, so
# reading and decrypting it would be wasted work.
_READ_COLUMNS = tuple(name for name in PAYLOAD_COLUMNS if name != "last_action_result")
_POST_INSTALL_DUE = frozenset(
    {Status.CONNECTING.value, Status.POST_INSTALL_ERROR.value}
)


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
class _Item:
    """A claimed account, as its column values, and its install's configs."""

    row: Mapping[str, Any]
    configs: Configs


@dataclass(slots=True)
class _Done:
    """A claimed account after its run."""

    item: _Item
    run: AccountRun
    outcome: Outcome


class _Lane:
    """The queue, workers and rate-limit pause of one integration.

    `concurrency` workers take accounts from the queue, so at most that many
    of the integration's accounts talk to the upstream at once. When the
    engine waits out a rate limit, `on_wait` pauses every worker of the lane
    for the same time.
    """

    def __init__(
        self,
        concurrency: int,
        handle: Callable[[_Item, Engine], Awaitable[None]],
        new_engine: Callable[[OnWait], Engine],
    ) -> None:
        self.queue: asyncio.Queue[_Item | None] = asyncio.Queue()
        self._handle = handle
        self._paused_until = 0.0
        self._workers = [
            asyncio.create_task(self._work(new_engine(self.on_wait)))
            for _ in range(concurrency)
        ]

    def on_wait(self, wait: RetryWait) -> None:
        """Pause the lane while the engine waits out a rate limit."""
        if wait.reason == "rate_limited":
            until = asyncio.get_running_loop().time() + wait.seconds
            self._paused_until = max(self._paused_until, until)

    async def close(self) -> None:
        """Let the workers finish the queue, then wait for them."""
        for _ in self._workers:
            self.queue.put_nowait(None)
        await asyncio.gather(*self._workers)

    def cancel(self) -> None:
        """Stop the workers at once, as when the request is cancelled."""
        for worker in self._workers:
            worker.cancel()

    async def _work(self, engine: Engine) -> None:
        loop = asyncio.get_running_loop()
        while (item := await self.queue.get()) is not None:
            while (delay := self._paused_until - loop.time()) > 0:
                await asyncio.sleep(delay)
            await self._handle(item, engine)


class BulkRevalidation:
    """One `revalidateIntegratedAccounts` call."""

    def __init__(self, service: LifecycleService) -> None:
        self.service = service
        self.database: Database = service.database
        self.lease = Lease(
            leases.new_lease_id(), Operation.BULK_REVALIDATE, service.lease_seconds
        )
        self.result = BulkResult()
        self._lanes: dict[uuid.UUID, _Lane] = {}
        self._clients: list[httpx.AsyncClient] = []
        self._configs: dict[uuid.UUID, Configs] = {}
        # Claimed accounts not yet run; the next chunk is claimed only while
        # there are fewer than CHUNK_SIZE, to bound memory and lease time.
        self._waiting = 0
        self._room = asyncio.Event()
        self._room.set()
        self._targets: dict[tuple[uuid.UUID, str | None, bool], RunTarget] = {}
        self._writer = _ResultWriter(self.database, self.lease, self.result)

    async def run(self, conditions: Sequence[ColumnElement[bool]]) -> BulkResult:
        """Revalidate every account that matches `conditions`."""
        ids = await self._matching_ids(conditions)
        self.result.matched = len(ids)
        async with LeaseKeeper(self.database, self.lease), self._writer:
            try:
                for start in range(0, len(ids), CHUNK_SIZE):
                    await self._room.wait()
                    for item in await self._claim(ids[start : start + CHUNK_SIZE]):
                        self._enqueue(item)
                for lane in self._lanes.values():
                    await lane.close()
            finally:
                for lane in self._lanes.values():
                    lane.cancel()
                for client in self._clients:
                    await client.aclose()
        # Accounts whose result could not be written keep no lease.
        await leases.release(self.database, self.lease)
        logger.info(
            "bulk_revalidation_finished lease_id=%s matched=%d revalidated=%d "
            "skipped=%d",
            self.lease.lease_id,
            self.result.matched,
            self.result.revalidated,
            self.result.skipped,
        )
        return self.result

    def _enqueue(self, item: _Item) -> None:
        self._waiting += 1
        if self._waiting >= CHUNK_SIZE:
            self._room.clear()
        self._lane(item.row["integration_id"]).queue.put_nowait(item)

    def _lane(self, integration_id: uuid.UUID) -> _Lane:
        lane = self._lanes.get(integration_id)
        if lane is None:
            lane = _Lane(
                self.service.settings.lifecycle_concurrency,
                self._revalidate,
                self._new_engine,
            )
            self._lanes[integration_id] = lane
        return lane

    def _new_engine(self, on_wait: OnWait) -> Engine:
        # One connection per worker: a worker sends one request at a time, and
        # httpcore's pool spends time quadratic in its connection count on
        # every request, which a pool shared by many workers pays in full.
        client = self.service.new_client(max_connections=1)
        self._clients.append(client)
        return Engine(client=client, on_wait=on_wait)

    async def _matching_ids(
        self, conditions: Sequence[ColumnElement[bool]]
    ) -> list[uuid.UUID]:
        query = (
            select(col(models.IntegratedAccount.id))
            .where(*conditions)
            .order_by(col(models.IntegratedAccount.id))
        )
        async with self.database.read_session() as session:
            return list((await session.scalars(query)).all())

    async def _claim(self, ids: list[uuid.UUID]) -> list[_Item]:
        """Claim the free accounts among `ids` and read them with their configs.

        Accounts are read as plain column values, not ORM objects, and each
        install's configs are read once per call, because both cost far more
        per account than the upstream request's own processing.
        """
        async with self.database.write_session() as session:
            claimed = await leases.claim_in_session(session, ids, self.lease)
        self.result.skipped += len(ids) - claimed
        if not claimed:
            return []
        columns = [ACCOUNT.c[name] for name in _READ_COLUMNS]
        query = select(*columns).where(
            ACCOUNT.c.id.in_(ids), ACCOUNT.c.lease_id == self.lease.lease_id
        )
        async with self.database.read_session() as session:
            rows = [dict(row._mapping) for row in await session.execute(query)]
            await self._load_configs(
                session, {row["environment_integration_id"] for row in rows}
            )
        return [
            _Item(row, self._configs[row["environment_integration_id"]]) for row in rows
        ]

    async def _load_configs(
        self, session: AsyncSession, install_ids: set[uuid.UUID]
    ) -> None:
        missing = install_ids - self._configs.keys()
        if not missing:
            return
        query = (
            select(
                col(models.EnvironmentIntegration.id),
                col(models.Integration.config),
                col(models.EnvironmentIntegration.override),
            )
            .join(
                models.Integration,
                col(models.Integration.id)
                == col(models.EnvironmentIntegration.integration_id),
            )
            .where(col(models.EnvironmentIntegration.id).in_(missing))
        )
        for install_id, config, override in await session.execute(query):
            self._configs[install_id] = Configs(config or {}, override or {})

    async def _revalidate(self, item: _Item, engine: Engine) -> None:
        """Run one account's steps; its lease stays for the writer to release."""
        try:
            done = await self._run_steps(item, engine)
        finally:
            self._waiting -= 1
            if self._waiting < CHUNK_SIZE:
                self._room.set()
        if done is not None:
            await self._writer.add(done)

    async def _run_steps(self, item: _Item, engine: Engine) -> _Done | None:
        try:
            target = self._target(item)
        except LifecycleRejected as rejected:
            # The config cannot run: the account is left as it was.
            for problem in rejected.problems:
                self.result.problem_counts[problem.code] += 1
            return None
        run = AccountRun(engine, target, dict(item.row["context"]))

        async def store_token() -> None:
            # A rotated refresh token must not wait for the batch write.
            await checkpoint_token(self.database, item.row["id"], self.lease, run)

        try:
            outcome = await run_steps(
                run,
                creating=False,
                token_policy=TokenPolicy.IF_EXPIRED,
                post_install=str(item.row["status"]) in _POST_INSTALL_DUE,
                on_token=store_token,
            )
        except Exception:
            # A bug, not an upstream failure: leave this account as it was.
            logger.exception(
                "bulk_revalidation_account_failed account_id=%s", item.row["id"]
            )
            return None
        return _Done(item, run, outcome)

    def _target(self, item: _Item) -> RunTarget:
        """Return the account's run target, shared by the accounts of one install."""
        row = item.row
        key = (
            row["environment_integration_id"],
            row["authentication_method"],
            row["is_sandbox"],
        )
        target = self._targets.get(key)
        if target is None:
            config = effective(item.configs)
            method, scheme = authentication(config, row["authentication_method"])
            target = RunTarget(config, scheme, method, row["is_sandbox"])
            self._targets[key] = target
        return target


class _ResultWriter:
    """Collects run results and writes them in batches."""

    def __init__(self, database: Database, lease: Lease, result: BulkResult) -> None:
        self.database = database
        self.lease = lease
        self.result = result
        self._pending: list[_Done] = []
        self._lock = asyncio.Lock()
        self._flusher = Periodic(
            FLUSH_INTERVAL, self.flush, "bulk_revalidation_flush_failed"
        )

    async def __aenter__(self) -> _ResultWriter:
        await self._flusher.__aenter__()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self._flusher.__aexit__()
        await self.flush()

    async def add(self, done: _Done) -> None:
        """Queue a result; write the batch once it is full."""
        self._pending.append(done)
        if len(self._pending) >= FLUSH_SIZE:
            await self.flush()

    async def flush(self) -> None:
        """Write every queued result in one transaction."""
        async with self._lock:
            items, self._pending = self._pending, []
            if items:
                await self._write(items)

    async def _write(self, results: list[_Done]) -> None:
        now = utc_now()
        changed = [done.item.row["id"] for done in results if done.run.changed_keys]
        async with self.database.write_session() as session:
            await leases.lock_in_id_order(
                session, ACCOUNT.c.id.in_([done.item.row["id"] for done in results])
            )
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

    def _apply(
        self,
        done: _Done,
        stored: dict[uuid.UUID, dict[str, Any]],
        now: datetime,
    ) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """Return the UPDATE parameters of a result and its event values, if any."""
        row, run, outcome = done.item.row, done.run, done.outcome
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
        configs = done.item.configs
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
