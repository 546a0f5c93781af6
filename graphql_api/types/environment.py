"""The `Environment` type and the list of environments."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import strawberry
from sqlalchemy import ColumnElement
from sqlmodel import col

from db import models
from graphql_api.context import Info
from graphql_api.filters import environment_condition
from graphql_api.types.connection import Connection, resolve_connection
from graphql_api.types.filters import EnvironmentFilter
from graphql_api.types.nested import (
    environment_integrations_field,
    integrated_accounts_field,
)
from graphql_api.types.node import Node
from graphql_api.types.ordering import EnvironmentOrder, sort_keys


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

    integrated_accounts = integrated_accounts_field(
        description="Integrated accounts of this environment.",
        connection="Environment.integratedAccounts",
        parent_column=col(models.IntegratedAccount.environment_id),
    )
    environment_integrations = environment_integrations_field(
        description="Integrations installed in this environment.",
        connection="Environment.environmentIntegrations",
        parent_column=col(models.EnvironmentIntegration.environment_id),
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
