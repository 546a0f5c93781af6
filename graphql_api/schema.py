"""The strawberry schema of the API and its printed SDL.

Documents are limited in tokens, depth, aliases and node cost so that one
request cannot ask for an unbounded amount of work (see
`graphql_api.security.limits`).
"""

from __future__ import annotations

from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.schema.config import StrawberryConfig
from strawberry.types import ExecutionContext

from graphql_api.document_cache import DocumentCache
from graphql_api.errors import ReportErrors
from graphql_api.mutations import Mutation
from graphql_api.mutations.lifecycle import LifecycleMutation
from graphql_api.scalars import SCALAR_MAP
from graphql_api.security.limits import QueryLimits
from graphql_api.subscriptions import Subscription
from graphql_api.types.event import EventQuery, add_events_field
from graphql_api.types.integrated_account import IntegratedAccount
from graphql_api.types.query import Query


class ApiSchema(strawberry.Schema):
    """A schema whose errors are logged by `ReportErrors`, not by strawberry.

    Strawberry's default logs every error with a traceback at ERROR level,
    including the client's own mistakes.
    """

    def process_errors(
        self,
        errors: list[GraphQLError],
        execution_context: ExecutionContext | None = None,
    ) -> None:
        return None


def _extensions() -> list[Any]:
    return [ReportErrors, QueryLimits, DocumentCache]


# The account lifecycle adds the root `events` list, `IntegratedAccount.events`
# and its mutations to the types that the other modules declare.
add_events_field(IntegratedAccount)


@strawberry.type(name="Query", description=Query.__strawberry_definition__.description)
class RootQuery(Query, EventQuery):
    pass


@strawberry.type(
    name="Mutation", description=Mutation.__strawberry_definition__.description
)
class RootMutation(Mutation, LifecycleMutation):
    pass


schema = ApiSchema(
    query=RootQuery,
    mutation=RootMutation,
    subscription=Subscription,
    config=StrawberryConfig(scalar_map=SCALAR_MAP),
    extensions=_extensions(),
)


def schema_sdl() -> str:
    """Return the schema in GraphQL SDL, as committed in ``schema.graphql``."""
    return schema.as_str() + "\n"
