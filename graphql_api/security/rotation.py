"""Re-encryption of every stored secret with the first key of the key ring.

`rotate_secrets` backs ``graphql-api rotate-key``. To replace a key, put the
new key first in ``GRAPHQL_API_SECRET_KEY`` and keep the old one after it,
run ``rotate-key``, then drop the old key. The same run encrypts secrets
that an older version stored in plain text, and the password fields that
an integration declared after its accounts were stored.

Rows are read and written as raw JSON, without `db.crypto.SecretJSON`, in
batches of one write transaction each. Each batch locks its rows (FOR
UPDATE on PostgreSQL; SQLite's write lock covers the whole database), so a
server may keep running during the rotation. A rotation that stops halfway
can be run again.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Column, MetaData, Table, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from db.crypto import (
    KeyRing,
    count_sealed,
    is_secret_key,
    open_document,
    seal_document,
)
from db.session import Database
from db.types import GUID, JSONDocument
from graphql_api.secrets import declared_password_fields

logger = logging.getLogger("graphql_api.security")

BATCH_SIZE = 500

# The tables as stored: JSON columns without the SecretJSON type, so that
# this module reads and writes the sealed text itself.
_raw = MetaData()
_INTEGRATION = Table(
    "integration",
    _raw,
    Column("id", GUID, primary_key=True),
    Column("config", JSONDocument),
)
_INSTALL = Table(
    "environment_integration",
    _raw,
    Column("id", GUID, primary_key=True),
    Column("integration_id", GUID),
    Column("override", JSONDocument),
)
_ACCOUNT = Table(
    "integrated_account",
    _raw,
    Column("id", GUID, primary_key=True),
    Column("integration_id", GUID),
    Column("environment_integration_id", GUID),
    Column("context", JSONDocument),
    Column("last_action_result", JSONDocument),
)


@dataclass(slots=True)
class RotationSummary:
    """Rows rewritten per table and the secret values sealed in them."""

    integrations: int = 0
    installs: int = 0
    accounts: int = 0
    sealed_values: int = 0

    def describe(self, key_id: str) -> str:
        """Return the one-line report that ``rotate-key`` prints."""
        return (
            f"Re-encrypted {self.sealed_values} secret value(s) with key "
            f"{key_id}: {self.integrations} integration(s), {self.installs} "
            f"install(s), {self.accounts} integrated account(s) rewritten."
        )


async def rotate_secrets(database: Database, keyring: KeyRing) -> RotationSummary:
    """Seal every secret of every row again with the first key of `keyring`.

    Raises db.crypto.SealedValueError when a stored value was sealed with a
    key that `keyring` lacks; the batches before it stay rotated.
    """
    summary = RotationSummary()
    summary.integrations = await _rotate_table(
        database, _INTEGRATION, ("config",), keyring, summary
    )
    summary.installs = await _rotate_table(
        database, _INSTALL, ("override",), keyring, summary
    )
    summary.accounts = await _rotate_table(
        database, _ACCOUNT, ("context", "last_action_result"), keyring, summary
    )
    logger.info(
        "secrets_rotated key_id=%s integrations=%d installs=%d accounts=%d "
        "sealed_values=%d",
        keyring.primary_key_id,
        summary.integrations,
        summary.installs,
        summary.accounts,
        summary.sealed_values,
    )
    return summary


async def _rotate_table(
    database: Database,
    table: Table,
    columns: tuple[str, ...],
    keyring: KeyRing,
    summary: RotationSummary,
) -> int:
    rewritten = 0
    after: uuid.UUID | None = None
    rules: dict[uuid.UUID, Callable[[str], bool]] = {}
    while True:
        async with database.write_session() as session:
            rows = await _batch(session, table, columns, after)
            for row in rows:
                values = await _resealed(session, table, row, columns, keyring, rules)
                if values:
                    await session.execute(
                        update(table).where(table.c.id == row.id).values(**values)
                    )
                    rewritten += 1
                    summary.sealed_values += sum(map(count_sealed, values.values()))
        if len(rows) < BATCH_SIZE:
            return rewritten
        after = rows[-1].id


async def _batch(
    session: AsyncSession,
    table: Table,
    columns: tuple[str, ...],
    after: uuid.UUID | None,
) -> list[Any]:
    query = select(table.c.id, *(table.c[name] for name in columns))
    if "integration_id" in table.c:
        query = query.add_columns(table.c.integration_id)
    if "environment_integration_id" in table.c:
        query = query.add_columns(table.c.environment_integration_id)
    if after is not None:
        query = query.where(table.c.id > after)
    query = query.order_by(table.c.id).limit(BATCH_SIZE).with_for_update()
    return list((await session.execute(query)).all())


async def _resealed(
    session: AsyncSession,
    table: Table,
    row: Any,
    columns: tuple[str, ...],
    keyring: KeyRing,
    rules: dict[uuid.UUID, Callable[[str], bool]],
) -> dict[str, Any]:
    """Return the new raw values of the row's columns that hold secrets.

    `rules` caches the secret-key rule of each install's accounts.
    """
    values: dict[str, Any] = {}
    for name in columns:
        stored = getattr(row, name)
        if stored is None:
            continue
        rule: Callable[[str], bool] = is_secret_key
        if table is _ACCOUNT and name == "context":
            install_id = row.environment_integration_id
            if install_id not in rules:
                rules[install_id] = await _context_rule(session, row, keyring)
            rule = rules[install_id]
        resealed = seal_document(open_document(stored, keyring), keyring, rule)
        if count_sealed(resealed) or count_sealed(stored):
            values[name] = resealed
    return values


async def _context_rule(
    session: AsyncSession, row: Any, keyring: KeyRing
) -> Callable[[str], bool]:
    config = await session.scalar(
        select(_INTEGRATION.c.config).where(_INTEGRATION.c.id == row.integration_id)
    )
    override = await session.scalar(
        select(_INSTALL.c.override).where(
            _INSTALL.c.id == row.environment_integration_id
        )
    )
    password_fields = declared_password_fields(
        open_document(config, keyring) if config else None,
        open_document(override, keyring) if override else None,
    )

    def is_secret(name: str) -> bool:
        return name in password_fields or is_secret_key(name)

    return is_secret
