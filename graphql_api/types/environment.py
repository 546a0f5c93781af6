"""The `Environment` type and the list of environments."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry
from sqlalchemy import ColumnElement
from sqlmodel import col

from db import models
from graphql_api.context import Info
from graphql_api.filters import environment_condition
from graphql_api.types.connection import (
    After,
    Before,
    Connection,
    First,
    Last,
    resolve_connection,
)
from graphql_api.types.filters import (
    EnvironmentFilter,
    EnvironmentIntegrationFilter,
    IntegratedAccountFilter,
)
from graphql_api.types.node import Node
from graphql_api.types.ordering import (
    EnvironmentIntegrationOrder,
    EnvironmentOrder,
    IntegratedAccountOrder,
    OrderByDescription,
    sort_keys,
)

if TYPE_CHECKING:
    from graphql_api.types.environment_integration import (
        EnvironmentIntegrationConnection,
    )
    from graphql_api.types.integrated_account import IntegratedAccountConnection


@strawberry.type(
    description="A team's workspace, such as Production or Staging. Installs "
    "and integrated accounts live in one environment."
)
class Environment(Node):
    name: str = strawberry.field(description="Name, unique within the team.")
    created_at: datetime = strawberry.field(description="When it was created.")
    updated_at: datetime = strawberry.field(description="When it was last changed.")
    row: strawberry.Private[models.Environment]

    @classmethod
    def from_row(cls, row: models.Environment) -> Environment:
        """Build the GraphQL object of an `environment` row."""
        return cls(
            id=strawberry.ID(str(row.id)),
            name=row.name,
            created_at=row.created_at,
            updated_at=row.updated_at,
            row=row,
        )

    @strawberry.field(description="Integrated accounts of this environment.")
    async def integrated_accounts(
        self,
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
            connection="Environment.integratedAccounts",
            scope=[col(models.IntegratedAccount.environment_id) == self.row.id],
            filter=filter,
            order_by=order_by,
            first=first,
            after=after,
            last=last,
            before=before,
        )

    @strawberry.field(description="Integrations installed in this environment.")
    async def environment_integrations(
        self,
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
            connection="Environment.environmentIntegrations",
            scope=[col(models.EnvironmentIntegration.environment_id) == self.row.id],
            filter=filter,
            order_by=order_by,
            first=first,
            after=after,
            last=last,
            before=before,
        )


@strawberry.type(description="A page of environments.")
class EnvironmentConnection(Connection[Environment]):
    pass


async def list_environments(
    info: Info,
    *,
    connection: str,
    scope: Sequence[ColumnElement[bool]] = (),
    filter: EnvironmentFilter | None,
    order_by: Sequence[EnvironmentOrder] | None,
    first: int | None,
    after: str | None,
    last: int | None,
    before: str | None,
) -> EnvironmentConnection:
    """Fetch one page of the environments that the caller may read."""
    context = info.context
    conditions = [
        context.principal.visible_environments(),
        *scope,
        environment_condition(filter, context.dialect),
    ]
    return await resolve_connection(
        info,
        connection_type=EnvironmentConnection,
        connection=connection,
        model=models.Environment,
        conditions=conditions,
        order=sort_keys(order_by),
        to_node=Environment.from_row,
        first=first,
        after=after,
        last=last,
        before=before,
    )
