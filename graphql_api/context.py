"""The per-request context that every resolver receives as ``info.context``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypeAlias

import strawberry

from db.session import Database
from graphql_api.auth import Principal
from graphql_api.loaders import Loaders
from graphql_api.reads import RequestReads


@dataclass(slots=True)
class RequestContext:
    """The database, the caller, and the request's reads and dataloaders.

    Built once per HTTP request by the view in `graphql_api.http`, after the
    bearer token has been checked, and once per WebSocket operation by
    `graphql_api.subscriptions`.
    """

    database: Database
    principal: Principal
    request_id: str
    reads: RequestReads = field(init=False)
    loaders: Loaders = field(init=False)

    def __post_init__(self) -> None:
        # Resolvers read through `reads`, which runs one query at a time, so
        # a request checks out at most one pooled connection for its reads.
        self.reads = RequestReads(self.database)
        self.loaders = Loaders(self.reads, self.principal)

    @property
    def dialect(self) -> str:
        """The SQLAlchemy dialect name of the database: "sqlite" or "postgresql"."""
        return self.database.engine.dialect.name


Info: TypeAlias = strawberry.Info[RequestContext, None]
