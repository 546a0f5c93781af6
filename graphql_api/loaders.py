"""Per-request dataloaders that fetch rows by id in one query per type.

Every loader applies the caller's visibility rules from `graphql_api.auth`,
so an id outside the caller's scope loads as None, exactly like a missing id.
Loaders live for one request; a mutation primes them with the rows it wrote.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

from sqlalchemy import ColumnElement, select
from sqlmodel import SQLModel, col
from strawberry.dataloader import DataLoader

from db.models import (
    Environment,
    EnvironmentIntegration,
    IntegratedAccount,
    Integration,
)
from graphql_api.auth import Principal
from graphql_api.reads import ReadSource

RowT = TypeVar("RowT", bound=SQLModel)

# Keeps one IN list well below SQLite's default limit of 32766 bound values.
MAX_BATCH_SIZE = 500


class RowLoader(Generic[RowT]):
    """Loader of one table's rows by id, limited to the rows the caller may read."""

    def __init__(
        self,
        database: ReadSource,
        model: type[RowT],
        visible: Callable[[], ColumnElement[bool]],
    ) -> None:
        self._database = database
        self._model = model
        self._visible = visible
        self._loader: DataLoader[uuid.UUID, RowT | None] = DataLoader(
            load_fn=self._load_batch, max_batch_size=MAX_BATCH_SIZE
        )

    async def load(self, row_id: uuid.UUID) -> RowT | None:
        """Return the visible row with this id, or None."""
        return await self._loader.load(row_id)

    async def load_many(self, row_ids: Sequence[uuid.UUID]) -> list[RowT | None]:
        """Return the visible rows with these ids, None where there is none."""
        return await self._loader.load_many(row_ids)

    def prime(self, row: RowT) -> None:
        """Replace the cached row with one that a mutation just wrote."""
        row_id: uuid.UUID = row.id  # type: ignore[attr-defined]
        self._loader.prime(row_id, row, force=True)

    def forget(self, row_id: uuid.UUID) -> None:
        """Record that a row is gone, such as one that a mutation deleted."""
        self._loader.prime(row_id, None, force=True)

    async def _load_batch(self, row_ids: list[uuid.UUID]) -> list[RowT | None]:
        id_column = col(self._model.id)  # type: ignore[attr-defined]
        query = select(self._model).where(id_column.in_(row_ids), self._visible())
        async with self._database.read_session() as session:
            rows = (await session.scalars(query)).all()
        by_id = {row.id: row for row in rows}  # type: ignore[attr-defined]
        return [by_id.get(row_id) for row_id in row_ids]


class Loaders:
    """The dataloaders of one request, one per table."""

    def __init__(self, database: ReadSource, principal: Principal) -> None:
        self.environment = RowLoader(
            database, Environment, principal.visible_environments
        )
        self.integration = RowLoader(
            database, Integration, principal.visible_integrations
        )
        self.environment_integration = RowLoader(
            database,
            EnvironmentIntegration,
            principal.visible_environment_integrations,
        )
        self.integrated_account = RowLoader(
            database,
            IntegratedAccount,
            lambda: principal.in_environments(col(IntegratedAccount.environment_id)),
        )
