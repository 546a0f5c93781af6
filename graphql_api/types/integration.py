"""The `Integration` type and the list of integrations."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import strawberry
from sqlalchemy import ColumnElement
from sqlmodel import col

from db import models
from graphql_api.context import Info
from graphql_api.filters import integration_condition
from graphql_api.scalars import JSON
from graphql_api.secrets import redact_config
from graphql_api.types.connection import Connection, resolve_connection
from graphql_api.types.enums import SharingPolicy
from graphql_api.types.filters import IntegrationFilter
from graphql_api.types.nested import (
    environment_integrations_field,
    integrated_accounts_field,
)
from graphql_api.types.node import Node
from graphql_api.types.ordering import IntegrationOrder, sort_keys


@strawberry.type(
    description="A declarative config for one upstream API, owned by a team. "
    "Other teams see it only when its sharing policy is ALLOW, or when it is "
    "installed in one of their environments."
)
class Integration(Node):
    name: str = strawberry.field(description="Name, unique within the owning team.")
    category: str = strawberry.field(description="Category, such as `crm`.")
    is_beta: bool = strawberry.field(description="Whether it is marked as beta.")
    sharing: SharingPolicy = strawberry.field(
        description="Whether other teams may see and install it."
    )
    version: int = strawberry.field(
        description="Version number, raised by every update. Pass it to "
        "`updateIntegration` to detect concurrent changes."
    )
    created_at: datetime = strawberry.field(description="When it was created.")
    updated_at: datetime = strawberry.field(description="When it was last changed.")
    row: strawberry.Private[models.Integration]

    @classmethod
    def from_row(cls, row: models.Integration) -> Integration:
        """Build the GraphQL object of an `integration` row."""
        return cls(
            id=strawberry.ID(str(row.id)),
            name=row.name,
            category=row.category,
            is_beta=row.is_beta,
            sharing=SharingPolicy(row.sharing),
            version=row.version,
            created_at=row.created_at,
            updated_at=row.updated_at,
            row=row,
        )

    @strawberry.field(
        description="The config: base URL, headers, credentials, resources and "
        "so on. Left out: every key named like a secret, all values under "
        "`authorization.config`, credential headers (Authorization, Cookie, "
        "X-Api-Key, ...), assertion parameters and URLs with a password. For "
        "a team other than the owner, `authorization`, `credentials` and "
        "`headers` are left out entirely."
    )
    def config(self, info: Info) -> JSON:
        foreign = self.row.team_id != info.context.principal.team_id
        return JSON(redact_config(self.row.config, foreign=foreign))

    @strawberry.field(description="Id of the team that owns it.")
    def team_id(self) -> strawberry.ID:
        return strawberry.ID(str(self.row.team_id))

    @strawberry.field(
        description="Whether the caller's team owns it. False for an "
        "integration that another team shares."
    )
    def owned_by_viewer(self, info: Info) -> bool:
        return self.row.team_id == info.context.principal.team_id

    @strawberry.field(
        description="Whether the caller may change or delete it: true for a "
        "team token of the owning team."
    )
    def viewer_can_edit(self, info: Info) -> bool:
        principal = info.context.principal
        return (
            principal.can_write_integrations and self.row.team_id == principal.team_id
        )

    environment_integrations = environment_integrations_field(
        description="Installs of it in the caller's environments.",
        connection="Integration.environmentIntegrations",
        parent_column=col(models.EnvironmentIntegration.integration_id),
    )
    integrated_accounts = integrated_accounts_field(
        description="Integrated accounts of it in the caller's environments.",
        connection="Integration.integratedAccounts",
        parent_column=col(models.IntegratedAccount.integration_id),
    )


@strawberry.type(description="A page of integrations.")
class IntegrationConnection(Connection[Integration]):
    pass


async def list_integrations(
    info: Info,
    *,
    connection: str,
    scope: Sequence[ColumnElement[bool]] = (),
    filter: IntegrationFilter | None,
    order_by: Sequence[IntegrationOrder] | None,
    first: int | None,
    after: str | None,
    last: int | None,
    before: str | None,
) -> IntegrationConnection:
    """Fetch one page of the integrations that the caller may read."""
    context = info.context
    conditions = [
        context.principal.visible_integrations(),
        *scope,
        integration_condition(filter, context.dialect),
    ]
    return await resolve_connection(
        info,
        connection_type=IntegrationConnection,
        connection=connection,
        model=models.Integration,
        conditions=conditions,
        order=sort_keys(order_by),
        to_node=Integration.from_row,
        first=first,
        after=after,
        last=last,
        before=before,
    )
