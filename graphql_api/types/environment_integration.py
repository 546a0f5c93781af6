"""The `EnvironmentIntegration` type (an install) and the list of installs."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry
from sqlalchemy import ColumnElement
from sqlmodel import col

from db import models
from graphql_api.context import Info
from graphql_api.filters import environment_integration_condition
from graphql_api.scalars import JSON
from graphql_api.secrets import redact_config
from graphql_api.types.connection import (
    Connection,
    resolve_connection,
)
from graphql_api.types.filters import (
    EnvironmentIntegrationFilter,
)
from graphql_api.types.nested import integrated_accounts_field
from graphql_api.types.node import Node, require_row
from graphql_api.types.ordering import (
    EnvironmentIntegrationOrder,
    sort_keys,
)

if TYPE_CHECKING:
    from graphql_api.types.environment import Environment
    from graphql_api.types.integration import Integration


@strawberry.type(
    description="An integration installed in an environment. Its `override` "
    "is deep-merged over the integration's config for this environment."
)
class EnvironmentIntegration(Node):
    integration_id: strawberry.ID = strawberry.field(
        description="Id of the installed integration."
    )
    environment_id: strawberry.ID = strawberry.field(
        description="Id of the environment it is installed in."
    )
    is_enabled: bool = strawberry.field(
        description="Whether accounts may use it; a disabled install keeps its "
        "accounts."
    )
    show_in_catalog: bool = strawberry.field(
        description="Whether it is listed in the environment's catalog."
    )
    created_at: datetime = strawberry.field(description="When it was installed.")
    updated_at: datetime = strawberry.field(description="When it was last changed.")
    row: strawberry.Private[models.EnvironmentIntegration]

    @classmethod
    def from_row(cls, row: models.EnvironmentIntegration) -> EnvironmentIntegration:
        """Build the GraphQL object of an `environment_integration` row."""
        return cls(
            id=strawberry.ID(str(row.id)),
            integration_id=strawberry.ID(str(row.integration_id)),
            environment_id=strawberry.ID(str(row.environment_id)),
            is_enabled=row.is_enabled,
            show_in_catalog=row.show_in_catalog,
            created_at=row.created_at,
            updated_at=row.updated_at,
            row=row,
        )

    @strawberry.field(
        description="Changes to the integration's config for this environment. "
        "Left out, as in `Integration.config`: every key named like a secret, "
        "all values under `authorization.config`, credential headers, "
        "assertion parameters and URLs with a password."
    )
    def override(self) -> JSON:
        return JSON(redact_config(self.row.override))

    @strawberry.field(description="The installed integration.")
    async def integration(
        self, info: Info
    ) -> Annotated[Integration, strawberry.lazy("graphql_api.types.integration")]:
        from graphql_api.types.integration import Integration

        row = await info.context.loaders.integration.load(self.row.integration_id)
        return Integration.from_row(
            require_row(row, "integration", self.row.integration_id)
        )

    @strawberry.field(description="The environment it is installed in.")
    async def environment(
        self, info: Info
    ) -> Annotated[Environment, strawberry.lazy("graphql_api.types.environment")]:
        from graphql_api.types.environment import Environment

        row = await info.context.loaders.environment.load(self.row.environment_id)
        return Environment.from_row(
            require_row(row, "environment", self.row.environment_id)
        )

    integrated_accounts = integrated_accounts_field(
        description="Integrated accounts of this install.",
        connection="EnvironmentIntegration.integratedAccounts",
        parent_column=col(models.IntegratedAccount.environment_integration_id),
    )


@strawberry.type(description="A page of installed integrations.")
class EnvironmentIntegrationConnection(Connection[EnvironmentIntegration]):
    pass


async def list_environment_integrations(
    info: Info,
    *,
    connection: str,
    scope: Sequence[ColumnElement[bool]] = (),
    filter: EnvironmentIntegrationFilter | None,
    order_by: Sequence[EnvironmentIntegrationOrder] | None,
    first: int | None,
    after: str | None,
    last: int | None,
    before: str | None,
) -> EnvironmentIntegrationConnection:
    """Fetch one page of the installs in the caller's environments."""
    context = info.context
    conditions = [
        context.principal.visible_environment_integrations(),
        *scope,
        environment_integration_condition(filter, context.dialect),
    ]
    return await resolve_connection(
        info,
        connection_type=EnvironmentIntegrationConnection,
        connection=connection,
        model=models.EnvironmentIntegration,
        conditions=conditions,
        order=sort_keys(order_by),
        to_node=EnvironmentIntegration.from_row,
        first=first,
        after=after,
        last=last,
        before=before,
    )
