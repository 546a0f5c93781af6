"""Connection fields that list the installs or accounts of one parent record.

`Environment` and `Integration` both expose `environmentIntegrations` and
`integratedAccounts`. The fields differ only in their description, the name
that their cursors carry and the column that ties a child row to the parent,
so each parent builds its fields here from those three values.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Annotated, Protocol

import strawberry
from sqlalchemy.orm import Mapped

from graphql_api.context import Info
from graphql_api.types.connection import After, Before, First, Last
from graphql_api.types.filters import (
    EnvironmentIntegrationFilter,
    IntegratedAccountFilter,
)
from graphql_api.types.ordering import (
    EnvironmentIntegrationOrder,
    IntegratedAccountOrder,
    OrderByDescription,
)

if TYPE_CHECKING:
    from graphql_api.types.environment_integration import (
        EnvironmentIntegrationConnection,
    )
    from graphql_api.types.integrated_account import IntegratedAccountConnection


class StoredRow(Protocol):
    """A database row with a UUID primary key."""

    @property
    def id(self) -> uuid.UUID: ...


class ParentRecord(Protocol):
    """A GraphQL object that keeps its database row, such as `Environment`."""

    @property
    def row(self) -> StoredRow: ...


def environment_integrations_field(
    *, description: str, connection: str, parent_column: Mapped[uuid.UUID]
) -> EnvironmentIntegrationConnection:
    """Build a field that lists the installs whose `parent_column` is the parent.

    `connection` is the field's `Type.field` name, which its cursors carry.
    """

    async def resolve(
        root: ParentRecord,
        info: Info,
        filter: Annotated[
            EnvironmentIntegrationFilter | None,
            strawberry.argument(description="Only installs that match this filter."),
        ] = None,
        order_by: Annotated[
            list[EnvironmentIntegrationOrder] | None,
            strawberry.argument(description=OrderByDescription),
        ] = None,
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
    ) -> Annotated[
        EnvironmentIntegrationConnection,
        strawberry.lazy("graphql_api.types.environment_integration"),
    ]:
        from graphql_api.types import environment_integration

        return await environment_integration.list_environment_integrations(
            info,
            connection=connection,
            scope=[parent_column == root.row.id],
            filter=filter,
            order_by=order_by,
            first=first,
            after=after,
            last=last,
            before=before,
        )

    return strawberry.field(resolver=resolve, description=description)


def integrated_accounts_field(
    *, description: str, connection: str, parent_column: Mapped[uuid.UUID]
) -> IntegratedAccountConnection:
    """Build a field that lists the accounts whose `parent_column` is the parent.

    `connection` is the field's `Type.field` name, which its cursors carry.
    """

    async def resolve(
        root: ParentRecord,
        info: Info,
        filter: Annotated[
            IntegratedAccountFilter | None,
            strawberry.argument(description="Only accounts that match this filter."),
        ] = None,
        order_by: Annotated[
            list[IntegratedAccountOrder] | None,
            strawberry.argument(description=OrderByDescription),
        ] = None,
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
    ) -> Annotated[
        IntegratedAccountConnection,
        strawberry.lazy("graphql_api.types.integrated_account"),
    ]:
        from graphql_api.types import integrated_account

        return await integrated_account.list_integrated_accounts(
            info,
            connection=connection,
            scope=[parent_column == root.row.id],
            filter=filter,
            order_by=order_by,
            first=first,
            after=after,
            last=last,
            before=before,
        )

    return strawberry.field(resolver=resolve, description=description)
