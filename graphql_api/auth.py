"""API token authentication and the rows that a token may read.

A team token reads every environment of its team, and an environment token
reads one environment. Both read the team's own integrations, other teams'
integrations whose `sharing` is ALLOW, and any integration installed in an
environment they read. Writes to integrations need a team token (see
`Principal.can_write_integrations`).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, Select, or_, select
from sqlalchemy.orm import Mapped
from sqlmodel import col

from db.enums import SharingPolicy
from db.models import ApiToken, Environment, EnvironmentIntegration, Integration
from db.session import Database
from db.types import utc_now
from graphql_api.errors import AuthenticationError
from graphql_api.tokens import hash_token, token_matches


@dataclass(frozen=True, slots=True)
class Principal:
    """The team, and optionally the environment, that a request acts for."""

    token_id: uuid.UUID
    team_id: uuid.UUID
    environment_id: uuid.UUID | None = None

    @property
    def can_write_integrations(self) -> bool:
        """Whether the token may create, change or delete team integrations.

        Integrations belong to the whole team, so a token narrowed to one
        environment may install them but not change them.
        """
        return self.environment_id is None

    def environment_ids(self) -> Select[uuid.UUID]:
        """Select the ids of the environments this token may read."""
        query = select(col(Environment.id))
        if self.environment_id is not None:
            return query.where(col(Environment.id) == self.environment_id)
        return query.where(col(Environment.team_id) == self.team_id)

    def in_environments(self, column: Mapped[uuid.UUID]) -> ColumnElement[bool]:
        """Match rows whose environment id `column` is one this token may read."""
        if self.environment_id is not None:
            return column == self.environment_id
        return column.in_(self.environment_ids().scalar_subquery())

    def visible_environments(self) -> ColumnElement[bool]:
        """Match the `environment` rows this token may read."""
        if self.environment_id is not None:
            return col(Environment.id) == self.environment_id
        return col(Environment.team_id) == self.team_id

    def visible_integrations(self) -> ColumnElement[bool]:
        """Match the `integration` rows this token may read."""
        installed_here = select(col(EnvironmentIntegration.integration_id)).where(
            self.in_environments(col(EnvironmentIntegration.environment_id))
        )
        return or_(
            col(Integration.team_id) == self.team_id,
            col(Integration.sharing) == SharingPolicy.ALLOW.value,
            col(Integration.id).in_(installed_here.scalar_subquery()),
        )

    def visible_environment_integrations(self) -> ColumnElement[bool]:
        """Match the `environment_integration` rows this token may read."""
        return self.in_environments(col(EnvironmentIntegration.environment_id))


def parse_bearer_token(header: str | None) -> str:
    """Return the token of an ``Authorization: Bearer <token>`` header.

    Raises AuthenticationError when the header is missing, uses another
    scheme, or has no token.
    """
    if header is None or not header.strip():
        raise AuthenticationError(
            "Missing API token: send the header 'Authorization: Bearer <token>'."
        )
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        raise AuthenticationError(
            f"Authorization scheme {scheme!r} is not supported: send "
            "'Authorization: Bearer <token>'."
        )
    token = token.strip()
    if not token:
        raise AuthenticationError(
            "The Authorization header has no token after 'Bearer': send "
            "'Authorization: Bearer <token>'."
        )
    return token


async def authenticate(
    database: Database, header: str | None, now: datetime | None = None
) -> Principal:
    """Look up the bearer token of `header` and return whom it acts for.

    Raises AuthenticationError when the token is missing, unknown, expired or
    revoked, or when its environment belongs to another team.
    """
    token = parse_bearer_token(header)
    query = (
        select(ApiToken, col(Environment.team_id))
        .outerjoin(Environment, col(Environment.id) == col(ApiToken.environment_id))
        .where(col(ApiToken.token_hash) == hash_token(token))
    )
    async with database.read_session() as session:
        row = (await session.execute(query)).first()
    if row is None:
        raise AuthenticationError(
            "Unknown API token: check the token or create a new one."
        )
    api_token, environment_team_id = row
    # The index finds the row by digest; this comparison takes constant time,
    # so the check itself does not depend on how the database compares text.
    if not token_matches(token, api_token.token_hash):
        raise AuthenticationError(
            "Unknown API token: check the token or create a new one."
        )
    _check_token_state(api_token, environment_team_id, now or utc_now())
    # NOTE: `api_token.last_used_at` is not updated, because that would turn
    # every read into a write on SQLite.
    return Principal(
        token_id=api_token.id,
        team_id=api_token.team_id,
        environment_id=api_token.environment_id,
    )


def _check_token_state(
    api_token: ApiToken, environment_team_id: uuid.UUID | None, now: datetime
) -> None:
    if api_token.revoked_at is not None and api_token.revoked_at <= now:
        raise AuthenticationError("The API token was revoked: create a new token.")
    if api_token.expires_at is not None and api_token.expires_at <= now:
        raise AuthenticationError(
            f"The API token expired at {api_token.expires_at.isoformat()}: "
            "create a new token."
        )
    if api_token.environment_id is not None and environment_team_id != (
        api_token.team_id
    ):
        # Unreachable through the API; a hand-edited row must not widen access.
        raise AuthenticationError(
            "The API token's environment belongs to another team: create a new token."
        )
