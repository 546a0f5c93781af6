"""The `IntegratedAccount` type and the list of integrated accounts."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING, Annotated, TypeVar

import strawberry
from sqlalchemy import ColumnElement
from sqlmodel import col

from db import models
from graphql_api.context import Info
from graphql_api.filters import integrated_account_condition
from graphql_api.scalars import JSON
from graphql_api.secrets import redact_context, redact_value
from graphql_api.types.connection import Connection, resolve_connection
from graphql_api.types.enums import (
    AuthenticationMethod,
    IntegratedAccountStatus,
    Region,
    SuperQueryRegion,
)
from graphql_api.types.filters import IntegratedAccountFilter
from graphql_api.types.node import Node, require_row
from graphql_api.types.ordering import IntegratedAccountOrder, sort_keys

EnumT = TypeVar("EnumT", bound=Enum)

if TYPE_CHECKING:
    from graphql_api.types.environment import Environment
    from graphql_api.types.environment_integration import EnvironmentIntegration
    from graphql_api.types.integration import Integration


@strawberry.type(
    description="One customer's connection to an upstream app through an "
    "installed integration."
)
class IntegratedAccount(Node):
    tenant_id: str = strawberry.field(
        description="The customer's own id for this connection, chosen by the caller."
    )
    status: IntegratedAccountStatus = strawberry.field(description="Connection status.")
    is_sandbox: bool = strawberry.field(
        description="Whether it connects to a sandbox of the upstream app."
    )
    authentication_method: AuthenticationMethod | None = strawberry.field(
        description="How it authenticates upstream; null until it is known."
    )
    region: Region = strawberry.field(description="Data region that stores it.")
    super_query: SuperQueryRegion | None = strawberry.field(
        description="Region of the SuperQuery store that syncs it; null when "
        "SuperQuery is off."
    )
    last_error: str | None = strawberry.field(
        description="Message of the last failure, such as a failed refresh."
    )
    integration_id: strawberry.ID = strawberry.field(
        description="Id of its integration."
    )
    environment_id: strawberry.ID = strawberry.field(
        description="Id of its environment."
    )
    environment_integration_id: strawberry.ID = strawberry.field(
        description="Id of the install it belongs to."
    )
    credentials_expire_at: datetime | None = strawberry.field(
        description="When the current credentials expire, if they do."
    )
    last_refreshed_at: datetime | None = strawberry.field(
        description="When the credentials were last refreshed."
    )
    last_validated_at: datetime | None = strawberry.field(
        description="When the credentials were last validated."
    )
    created_at: datetime = strawberry.field(description="When it was created.")
    updated_at: datetime = strawberry.field(description="When it was last changed.")
    row: strawberry.Private[models.IntegratedAccount]

    @classmethod
    def from_row(cls, row: models.IntegratedAccount) -> IntegratedAccount:
        """Build the GraphQL object of an `integrated_account` row."""
        return cls(
            id=strawberry.ID(str(row.id)),
            tenant_id=row.tenant_id,
            status=IntegratedAccountStatus(row.status),
            is_sandbox=row.is_sandbox,
            authentication_method=_optional(
                AuthenticationMethod, row.authentication_method
            ),
            region=Region(row.region),
            super_query=_optional(SuperQueryRegion, row.super_query),
            last_error=row.last_error,
            integration_id=strawberry.ID(str(row.integration_id)),
            environment_id=strawberry.ID(str(row.environment_id)),
            environment_integration_id=strawberry.ID(
                str(row.environment_integration_id)
            ),
            credentials_expire_at=row.credentials_expire_at,
            last_refreshed_at=row.last_refreshed_at,
            last_validated_at=row.last_validated_at,
            created_at=row.created_at,
            updated_at=row.updated_at,
            row=row,
        )

    @strawberry.field(
        description="Variables and credentials of the connection. Credential "
        "values (tokens, keys, passwords, secrets, `oauth.token` and the "
        "integration's password fields) are left out."
    )
    async def context(self, info: Info) -> JSON:
        loaders = info.context.loaders
        integration = await loaders.integration.load(self.row.integration_id)
        install = await loaders.environment_integration.load(
            self.row.environment_integration_id
        )
        redacted = redact_context(
            self.row.context,
            integration.config if integration else None,
            install.override if install else None,
        )
        return JSON(redacted)

    @strawberry.field(
        description="Result of the last action run on it, such as the "
        "post-install steps. Keys named like a secret are left out."
    )
    def last_action_result(self) -> JSON | None:
        if self.row.last_action_result is None:
            return None
        return JSON(redact_value(self.row.last_action_result))

    @strawberry.field(description="Its integration.")
    async def integration(
        self, info: Info
    ) -> Annotated[Integration, strawberry.lazy("graphql_api.types.integration")]:
        from graphql_api.types.integration import Integration

        row_id = self.row.integration_id
        row = await info.context.loaders.integration.load(row_id)
        return Integration.from_row(require_row(row, "integration", row_id))

    @strawberry.field(description="Its environment.")
    async def environment(
        self, info: Info
    ) -> Annotated[Environment, strawberry.lazy("graphql_api.types.environment")]:
        from graphql_api.types.environment import Environment

        row_id = self.row.environment_id
        row = await info.context.loaders.environment.load(row_id)
        return Environment.from_row(require_row(row, "environment", row_id))

    @strawberry.field(description="The install it belongs to.")
    async def environment_integration(
        self, info: Info
    ) -> Annotated[
        EnvironmentIntegration,
        strawberry.lazy("graphql_api.types.environment_integration"),
    ]:
        from graphql_api.types.environment_integration import EnvironmentIntegration

        row_id = self.row.environment_integration_id
        row = await info.context.loaders.environment_integration.load(row_id)
        return EnvironmentIntegration.from_row(
            require_row(row, "environment_integration", row_id)
        )


def _optional(enum_type: type[EnumT], value: str | None) -> EnumT | None:
    return None if value is None else enum_type(value)


@strawberry.type(description="A page of integrated accounts.")
class IntegratedAccountConnection(Connection[IntegratedAccount]):
    pass


async def list_integrated_accounts(
    info: Info,
    *,
    connection: str,
    scope: Sequence[ColumnElement[bool]] = (),
    filter: IntegratedAccountFilter | None,
    order_by: Sequence[IntegratedAccountOrder] | None,
    first: int | None,
    after: str | None,
    last: int | None,
    before: str | None,
) -> IntegratedAccountConnection:
    """Fetch one page of the integrated accounts in the caller's environments."""
    context = info.context
    conditions = [
        context.principal.in_environments(col(models.IntegratedAccount.environment_id)),
        *scope,
        integrated_account_condition(filter, context.dialect),
    ]
    return await resolve_connection(
        info,
        connection_type=IntegratedAccountConnection,
        connection=connection,
        model=models.IntegratedAccount,
        conditions=conditions,
        order=sort_keys(order_by),
        to_node=IntegratedAccount.from_row,
        first=first,
        after=after,
        last=last,
        before=before,
    )
