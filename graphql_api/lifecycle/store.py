"""Reads and writes of lifecycle runs: accounts with their configs, results.

Every write here is one short transaction, and none of them waits on an
upstream call. Writes that finish a run check that the run still holds the
account's lease, so a run whose lease expired cannot overwrite the work of
the run that took the account over.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

import orjson
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from config_engine.merge import effective_config
from db import models
from db.session import Database
from db.types import utc_now
from graphql_api.auth import Principal
from graphql_api.lifecycle.events import (
    EventType,
    account_payload,
    account_values,
    add_account_event,
    new_event,
    status_event,
)
from graphql_api.lifecycle.lease import Lease, released_values
from graphql_api.lifecycle.outcome import Operation, Outcome
from graphql_api.lifecycle.run import AccountRun
from graphql_api.secrets import mark_context_secrets

logger = logging.getLogger("graphql_api.lifecycle")


# Each entry keeps a config and its JSON inputs in memory, so the bound is
# small. It is an
# estimate of the installs that one process serves in turn, not a measured
# size. When the cache is full, the least recently used entry is dropped.
MAX_CACHED_CONFIGS: Final = 256

# The integration id and the install id that an effective config belongs to.
ConfigKey = tuple[uuid.UUID, uuid.UUID]


class EffectiveConfigCache:
    """Effective configs by (integration id, install id), reused while unchanged.

    Every load reads new config objects from the database, so merging them
    per call gives the engine a new config object each time, and the engine
    compiles a config's templates only for an object it has seen before.
    This cache returns the same effective config object for as long as the
    integration config and the override encode to the same JSON as the ones
    it was merged from, and merges a new one as soon as either differs.
    The JSON comparison distinguishes ``1``, ``1.0`` and ``true``, which
    compare equal with Python's ``==``.

    The returned dict is shared by every caller, so it is read-only by
    contract, as the engine's configs are.
    """

    __slots__ = ("_entries", "_max_entries")

    def __init__(self, max_entries: int = MAX_CACHED_CONFIGS) -> None:
        if max_entries < 1:
            raise ValueError(
                f"max_entries must be at least 1, received {max_entries!r}"
            )
        self._entries: dict[ConfigKey, tuple[bytes, dict[str, Any]]] = {}
        self._max_entries = max_entries

    def __len__(self) -> int:
        return len(self._entries)

    def get(
        self,
        key: ConfigKey,
        integration: Mapping[str, Any],
        override: Mapping[str, Any],
    ) -> dict[str, Any]:
        """Return the effective config of the two configs.

        They are merged only when the cached entry of `key` is missing, or
        was merged from configs that differ from these.

        Raises ConfigError, as `effective_config` does, for a config that
        cannot be merged. Nothing is cached then, nor for configs that hold
        values JSON cannot encode.
        """
        try:
            inputs = orjson.dumps([integration, override])
        except TypeError:
            return effective_config(integration, override)
        entry = self._entries.pop(key, None)
        if entry is not None and entry[0] == inputs:
            self._entries[key] = entry
            return entry[1]
        effective = effective_config(integration, override)
        if len(self._entries) >= self._max_entries:
            del self._entries[next(iter(self._entries))]
        self._entries[key] = (inputs, effective)
        return effective


_effective_configs = EffectiveConfigCache()


@dataclass(frozen=True, slots=True)
class Configs:
    """An install's integration config, its override and the merged result.

    `key` contains the integration id and the install id, and with it the
    merged result comes from the process-wide `EffectiveConfigCache`.
    Without a key, each Configs object merges once and keeps the result.
    """

    integration: Mapping[str, Any]
    override: Mapping[str, Any]
    key: ConfigKey | None = None
    _effective: dict[str, Any] | None = field(
        default=None, init=False, repr=False, compare=False
    )

    @property
    def effective(self) -> dict[str, Any]:
        """The integration config with the override merged in (read-only)."""
        effective = self._effective
        if effective is None:
            if self.key is None:
                effective = effective_config(self.integration, self.override)
            else:
                effective = _effective_configs.get(
                    self.key, self.integration, self.override
                )
            # The dataclass is frozen, so the cached result is set directly.
            object.__setattr__(self, "_effective", effective)
        return effective


@dataclass(slots=True)
class LoadedAccount:
    """An account row, detached from its session, with its configs."""

    row: models.IntegratedAccount
    configs: Configs


async def load_account(
    database: Database, account_id: uuid.UUID, principal: Principal | None
) -> LoadedAccount | None:
    """Read an account the principal may see, or None (missing or foreign).

    A `principal` of None skips the visibility check, for an account that
    the caller has already found visible.
    """
    query = (
        select(
            models.IntegratedAccount,
            col(models.Integration.config),
            col(models.EnvironmentIntegration.override),
        )
        .join(
            models.Integration,
            col(models.Integration.id) == col(models.IntegratedAccount.integration_id),
        )
        .join(
            models.EnvironmentIntegration,
            col(models.EnvironmentIntegration.id)
            == col(models.IntegratedAccount.environment_integration_id),
        )
        .where(col(models.IntegratedAccount.id) == account_id)
    )
    if principal is not None:
        query = query.where(
            principal.in_environments(col(models.IntegratedAccount.environment_id))
        )
    async with database.read_session() as session:
        found = (await session.execute(query)).first()
    if found is None:
        return None
    row, config, override = found
    key = (row.integration_id, row.environment_integration_id)
    return LoadedAccount(row, Configs(config or {}, override or {}, key))


@dataclass(frozen=True, slots=True)
class LoadedInstall:
    """An install the principal may see, with its configs."""

    row: models.EnvironmentIntegration
    configs: Configs


async def load_install(
    database: Database, principal: Principal, install_id: uuid.UUID
) -> LoadedInstall | None:
    """Read an install the principal may see, or None (missing or foreign)."""
    query = (
        select(models.EnvironmentIntegration, col(models.Integration.config))
        .join(
            models.Integration,
            col(models.Integration.id)
            == col(models.EnvironmentIntegration.integration_id),
        )
        .where(
            col(models.EnvironmentIntegration.id) == install_id,
            principal.visible_environment_integrations(),
        )
    )
    async with database.read_session() as session:
        found = (await session.execute(query)).first()
    if found is None:
        return None
    row, config = found
    key = (row.integration_id, row.id)
    return LoadedInstall(row, Configs(config or {}, row.override or {}, key))


async def insert_account(
    database: Database,
    account: models.IntegratedAccount,
    lease: Lease,
    configs: Configs,
) -> models.IntegratedAccount:
    """Store a new account with its lease claimed and its ``created`` event."""
    now = utc_now()
    account.created_at = account.updated_at = now
    account.lease_id = lease.lease_id
    account.lease_operation = lease.operation
    account.lease_expires_at = lease.expiry(now)
    account.context = mark_context_secrets(
        account.context, configs.integration, configs.override
    )
    async with database.write_session() as session:
        session.add(account)
        await session.flush()
        values = account_values(account)
        payload = account_payload(values, configs.integration, configs.override)
        session.add(new_event(EventType.CREATED, values, payload, at=now))
    return account


async def checkpoint_token(
    database: Database, account_id: uuid.UUID, lease: Lease, run: AccountRun
) -> None:
    """Store a new token at once, before the run's actions go on.

    A vendor that rotates refresh tokens has already invalidated the old one,
    so the new one must reach the database even if the process stops before
    the run ends. The rotated refresh token and the access token are written
    in this one transaction.
    """
    async with database.write_session() as session:
        row = await _held_row(session, account_id, lease)
        if row is None:
            return
        row.context = _merged_context(row.context, run)
        _apply_token(row, run)
        row.updated_at = utc_now()


@dataclass(frozen=True, slots=True)
class Finish:
    """Options for writing a run's result.

    `replace_context` stores the run's whole context, as a reconnect does.
    Without it, only the top-level keys that the run changed are merged into
    the stored context. `user_change` marks a change that the caller
    requested, which records ``integrated_account:updated`` when the status
    stays the same.
    """

    operation: str
    replace_context: bool = False
    user_change: bool = False
    credentials_expire_at: datetime | None = None


async def finish_run(
    database: Database,
    account_id: uuid.UUID,
    lease: Lease,
    run: AccountRun,
    outcome: Outcome,
    finish: Finish,
) -> models.IntegratedAccount | None:
    """Write a run's result, release the lease and record the event, if any.

    Returns the stored account, or None when the account is gone or another
    run took its lease over (then nothing is written).
    """
    async with database.write_session() as session:
        row = await _held_row(session, account_id, lease)
        if row is None:
            return None
        event = _apply_result(row, run, outcome, finish)
        if event is not None:
            await add_account_event(session, row, event)
    return row


def _apply_result(
    row: models.IntegratedAccount,
    run: AccountRun,
    outcome: Outcome,
    finish: Finish,
) -> EventType | None:
    previous_status, previous_context = row.status, row.context
    if finish.replace_context:
        row.context = mark_context_secrets(run.context, run.target.config)
        row.credentials_expire_at = finish.credentials_expire_at
    else:
        row.context = _merged_context(row.context, run)
    _apply_token(row, run)
    if run.validated_at is not None:
        row.last_validated_at = run.validated_at
    row.last_action_result = run.record(finish.operation, outcome.failure)
    if outcome.status is not None:
        row.status = outcome.status
        row.last_error = outcome.last_error
    row.updated_at = utc_now()
    _release(row)
    event = status_event(
        previous_status, row.status, reconnected=finish.operation == Operation.RECONNECT
    )
    if event is None and finish.user_change and row.context != previous_context:
        event = EventType.UPDATED
    return event


async def store_context(
    database: Database,
    account_id: uuid.UUID,
    lease: Lease,
    context: dict[str, Any],
    credentials_expire_at: datetime | None,
) -> models.IntegratedAccount | None:
    """Replace an account's context, release the lease and record ``updated``.

    Records no event when the context did not change. Returns None when the
    account is gone or the lease was taken over.
    """
    async with database.write_session() as session:
        row = await _held_row(session, account_id, lease)
        if row is None:
            return None
        changed = row.context != context
        if changed:
            row.context = context
            row.credentials_expire_at = credentials_expire_at
            row.updated_at = utc_now()
        _release(row)
        if changed:
            await add_account_event(session, row, EventType.UPDATED)
    return row


async def _held_row(
    session: AsyncSession, account_id: uuid.UUID, lease: Lease
) -> models.IntegratedAccount | None:
    # FOR UPDATE keeps another process from claiming an expired lease between
    # this check and the write. SQLite's write transaction already excludes it.
    row = await session.get(models.IntegratedAccount, account_id, with_for_update=True)
    if row is None:
        logger.info("lifecycle_account_gone account_id=%s", account_id)
        return None
    if row.lease_id != lease.lease_id:
        logger.warning(
            "lifecycle_lease_lost account_id=%s lease_id=%s operation=%s",
            account_id,
            lease.lease_id,
            lease.operation,
        )
        return None
    return row


def _merged_context(stored: Mapping[str, Any], run: AccountRun) -> dict[str, Any]:
    merged = dict(stored)
    for key in run.changed_keys:
        if key in run.context:
            merged[key] = run.context[key]
        else:
            merged.pop(key, None)
    # The effective config declares the password fields of both configs.
    return mark_context_secrets(merged, run.target.config)


def _apply_token(row: models.IntegratedAccount, run: AccountRun) -> None:
    if run.token is None:
        return
    row.credentials_expire_at = run.token.expires_at
    row.last_refreshed_at = run.refreshed_at


def _release(row: models.IntegratedAccount) -> None:
    for name, value in released_values().items():
        setattr(row, name, value)
