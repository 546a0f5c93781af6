"""Revalidation of many accounts at once, with bounded upstream concurrency.

The accounts that match a filter are claimed in chunks, each with one
UPDATE under one lease id shared by the whole call, and one renewal keeps
every claimed account leased. Accounts leased by another run are skipped.

Each integration has a lane of `Settings.lifecycle_concurrency` workers, so
at most that many of its accounts talk to the upstream at once. When the
engine waits out a rate limit (a 429 with Retry-After, say), the lane holds
the integration's other accounts back for the same time, so that they do not
run into the same limit.

Results are written in batches by `bulk_results.ResultWriter`, in one short
write transaction each, so the SQLite write lock is never held across an
upstream call. A refreshed token is the exception: it is stored at
once in its own transaction, because the vendor may have rotated the refresh
token already.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable, Iterator, Sequence

import httpx
from sqlalchemy import ColumnElement, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from config_engine.engine import Engine
from config_engine.rate_limit import OnWait, RetryWait
from db import models
from db.enums import IntegratedAccountStatus as Status
from db.session import Database
from graphql_api.lifecycle import lease as leases
from graphql_api.lifecycle.bulk_results import (
    BulkResult,
    ClaimedAccount,
    FinishedRun,
    ResultWriter,
)
from graphql_api.lifecycle.errors import LifecycleRejected
from graphql_api.lifecycle.events import PAYLOAD_COLUMNS
from graphql_api.lifecycle.lease import ACCOUNT, Lease, LeaseKeeper
from graphql_api.lifecycle.outcome import Operation, TokenPolicy, run_steps
from graphql_api.lifecycle.run import AccountRun, RunTarget
from graphql_api.lifecycle.service import LifecycleService
from graphql_api.lifecycle.store import Configs, checkpoint_token
from graphql_api.lifecycle.targets import authentication, effective

logger = logging.getLogger("graphql_api.lifecycle")

# Accounts claimed per UPDATE, and the maximum number of claimed accounts that
# wait for a worker.
CHUNK_SIZE = 500
# Accounts in the first claim. It is smaller, so that the upstream requests
# start before a whole chunk has been claimed and read.
FIRST_CHUNK_SIZE = 100
# The account columns that a run reads. `last_action_result` is only written, so
# reading and decrypting it would be wasted work.
_READ_COLUMNS = tuple(name for name in PAYLOAD_COLUMNS if name != "last_action_result")
_POST_INSTALL_DUE = frozenset(
    {Status.CONNECTING.value, Status.POST_INSTALL_ERROR.value}
)


def _chunks(ids: list[uuid.UUID]) -> Iterator[list[uuid.UUID]]:
    """Split `ids` into `FIRST_CHUNK_SIZE` ids, then slices of `CHUNK_SIZE`."""
    if ids:
        yield ids[:FIRST_CHUNK_SIZE]
    for start in range(FIRST_CHUNK_SIZE, len(ids), CHUNK_SIZE):
        yield ids[start : start + CHUNK_SIZE]


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
        handle: Callable[[ClaimedAccount, Engine], Awaitable[None]],
        new_engine: Callable[[OnWait], Engine],
    ) -> None:
        self.queue: asyncio.Queue[ClaimedAccount | None] = asyncio.Queue()
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
        # Claimed accounts whose lease is neither written back nor released.
        # Renewals and the final release look these rows up by id.
        self._held_ids: set[uuid.UUID] = set()
        self._writer = ResultWriter(
            self.database, self.lease, self.result, self._held_ids
        )

    async def run(self, conditions: Sequence[ColumnElement[bool]]) -> BulkResult:
        """Revalidate every account that matches `conditions`."""
        ids = await self._matching_ids(conditions)
        self.result.matched = len(ids)
        keeper = LeaseKeeper(self.database, self.lease, self._held_ids)
        async with keeper, self._writer:
            try:
                for chunk in _chunks(ids):
                    await self._room.wait()
                    for item in await self._claim(chunk):
                        self._enqueue(item)
                for lane in self._lanes.values():
                    await lane.close()
            finally:
                for lane in self._lanes.values():
                    lane.cancel()
                for client in self._clients:
                    await client.aclose()
        # Accounts whose result could not be written keep no lease.
        await leases.release(self.database, self.lease, self._held_ids)
        logger.info(
            "bulk_revalidation_finished lease_id=%s matched=%d revalidated=%d "
            "skipped=%d",
            self.lease.lease_id,
            self.result.matched,
            self.result.revalidated,
            self.result.skipped,
        )
        return self.result

    def _enqueue(self, item: ClaimedAccount) -> None:
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

    async def _claim(self, ids: list[uuid.UUID]) -> list[ClaimedAccount]:
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
        self._held_ids.update(row["id"] for row in rows)
        return [
            ClaimedAccount(row, self._configs[row["environment_integration_id"]])
            for row in rows
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

    async def _revalidate(self, item: ClaimedAccount, engine: Engine) -> None:
        """Run one account's steps and hand the result or the lease to the writer."""
        try:
            done = await self._run_steps(item, engine)
        finally:
            self._waiting -= 1
            if self._waiting < CHUNK_SIZE:
                self._room.set()
        if done is None:
            await self._writer.release(item.row["id"])
        else:
            await self._writer.add(done)

    async def _run_steps(
        self, item: ClaimedAccount, engine: Engine
    ) -> FinishedRun | None:
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
        return FinishedRun(item, run, outcome)

    def _target(self, item: ClaimedAccount) -> RunTarget:
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
