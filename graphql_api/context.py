"""The per-request context that every resolver receives as ``info.context``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypeAlias

import strawberry

from db.session import Database
from graphql_api.auth import Principal
from graphql_api.loaders import Loaders


@dataclass(slots=True)
class RequestContext:
    """The database, the caller and the request's dataloaders.

    Built once per HTTP request by the view in `graphql_api.app`, after the
    bearer token has been checked.
    """

    database: Database
    principal: Principal
    request_id: str
    loaders: Loaders = field(init=False)

    def __post_init__(self) -> None:
        self.loaders = Loaders(self.database, self.principal)

    @property
    def dialect(self) -> str:
        """The SQLAlchemy dialect name of the database: "sqlite" or "postgresql"."""
        return self.database.engine.dialect.name


Info: TypeAlias = strawberry.Info[RequestContext, None]
