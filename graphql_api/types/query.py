"""The `Query` root: lookups by id and the four top-level lists."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from typing import Annotated

import strawberry
from sqlmodel import SQLModel

from db import models
from graphql_api.context import Info
from graphql_api.errors import BadUserInputError
from graphql_api.types.connection import After, Before, First, Last
from graphql_api.types.environment import (
    Environment,
    EnvironmentConnection,
    list_environments,
)
from graphql_api.types.environment_integration import (
    EnvironmentIntegration,
    EnvironmentIntegrationConnection,
    list_environment_integrations,
)
from graphql_api.types.filters import (
    EnvironmentFilter,
    EnvironmentIntegrationFilter,
    IntegratedAccountFilter,
    IntegrationFilter,
)
from graphql_api.types.integrated_account import (
    IntegratedAccount,
    IntegratedAccountConnection,
    list_integrated_accounts,
)
from graphql_api.types.integration import (
    Integration,
    IntegrationConnection,
    list_integrations,
)
from graphql_api.types.node import Node, parse_id
from graphql_api.types.ordering import (
    EnvironmentIntegrationOrder,
    EnvironmentOrder,
    IntegratedAccountOrder,
    IntegrationOrder,
    OrderByDescription,
)

# Maximum number of ids in one `nodes` call.
MAX_NODE_IDS = 100


@strawberry.type(
    description="Entry points for reads. Every list contains only rows that the "
    "token may read."
)
class Query:
    @strawberry.field(
        description="The record with this id, or null when there is none or the "
        "token may not read it."
    )
    async def node(
        self,
        info: Info,
        id: Annotated[
            strawberry.ID, strawberry.argument(description="A record's UUID.")
        ],
    ) -> Node | None:
        found = await load_nodes(info, [parse_id(id, "id")])
        return found[0]

    @strawberry.field(
        description="The records with these ids, in the same order; null where "
        "there is none or the token may not read it."
    )
    async def nodes(
        self,
        info: Info,
        ids: Annotated[
            list[strawberry.ID],
            strawberry.argument(description=f"Up to {MAX_NODE_IDS} record UUIDs."),
        ],
    ) -> list[Node | None]:
        if len(ids) > MAX_NODE_IDS:
            raise BadUserInputError(
                f"`ids` lists {len(ids)} ids, but at most {MAX_NODE_IDS} are "
                "allowed: split the request."
            )
        return await load_nodes(info, [parse_id(value, "ids") for value in ids])

    @strawberry.field(description="Environments that the token may read.")
    async def environments(
        self,
        info: Info,
        filter: Annotated[
            EnvironmentFilter | None,
            strawberry.argument(
                description="Only environments that match this filter."
            ),
        ] = None,
        order_by: Annotated[
            list[EnvironmentOrder] | None,
            strawberry.argument(description=OrderByDescription),
        ] = None,
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
    ) -> EnvironmentConnection:
        return await list_environments(
            info,
            connection="environments",
            filter=filter,
            order_by=order_by,
            first=first,
            after=after,
            last=last,
            before=before,
        )

    @strawberry.field(
        description="Integrations that the token may read: the team's own, those "
        "other teams share with ALLOW, and those installed in its environments."
    )
    async def integrations(
        self,
        info: Info,
        filter: Annotated[
            IntegrationFilter | None,
            strawberry.argument(
                description="Only integrations that match this filter."
            ),
        ] = None,
        order_by: Annotated[
            list[IntegrationOrder] | None,
            strawberry.argument(description=OrderByDescription),
        ] = None,
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
    ) -> IntegrationConnection:
        return await list_integrations(
            info,
            connection="integrations",
            filter=filter,
            order_by=order_by,
            first=first,
            after=after,
            last=last,
            before=before,
        )

    @strawberry.field(
        description="Installs in the environments that the token may read."
    )
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
    ) -> EnvironmentIntegrationConnection:
        return await list_environment_integrations(
            info,
            connection="environmentIntegrations",
            filter=filter,
            order_by=order_by,
            first=first,
            after=after,
            last=last,
            before=before,
        )

    @strawberry.field(
        description="Integrated accounts in the environments that the token may read."
    )
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
    ) -> IntegratedAccountConnection:
        return await list_integrated_accounts(
            info,
            connection="integratedAccounts",
            filter=filter,
            order_by=order_by,
            first=first,
            after=after,
            last=last,
            before=before,
        )


async def load_nodes(info: Info, ids: Sequence[uuid.UUID]) -> list[Node | None]:
    """Look the ids up in every table at once and wrap the rows the caller may read.

    Costs one batched query per table, whatever the number of ids.
    """
    loaders = info.context.loaders
    found_per_table: tuple[Sequence[SQLModel | None], ...] = await asyncio.gather(
        loaders.environment.load_many(ids),
        loaders.integration.load_many(ids),
        loaders.environment_integration.load_many(ids),
        loaders.integrated_account.load_many(ids),
    )
    nodes: list[Node | None] = []
    for index in range(len(ids)):
        row = next(
            (found[index] for found in found_per_table if found[index] is not None),
            None,
        )
        nodes.append(None if row is None else to_node(row))
    return nodes


def to_node(row: SQLModel) -> Node:
    """Wrap a row of any table in its GraphQL type."""
    if isinstance(row, models.Environment):
        return Environment.from_row(row)
    if isinstance(row, models.Integration):
        return Integration.from_row(row)
    if isinstance(row, models.EnvironmentIntegration):
        return EnvironmentIntegration.from_row(row)
    if isinstance(row, models.IntegratedAccount):
        return IntegratedAccount.from_row(row)
    raise TypeError(f"no GraphQL type for {type(row).__name__}")
