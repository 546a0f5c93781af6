"""Revocation of API tokens, for ``graphql-api revoke-token``."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, select
from sqlmodel import col

from db.models import ApiToken, Team
from db.session import Database
from db.types import utc_now
from graphql_api.tokens import TOKEN_PREFIX, hash_token


class TokenNotFoundError(LookupError):
    """Raised when no stored token matches the given token or id."""


@dataclass(frozen=True, slots=True)
class RevokedToken:
    """The token that `revoke_token` revoked, or found already revoked."""

    id: uuid.UUID
    team_name: str
    revoked_at: datetime
    already_revoked: bool


async def revoke_token(database: Database, token_or_id: str) -> RevokedToken:
    """Revoke an API token given as its text (``gapi_...``) or its id.

    A token revoked before keeps its first revocation time. Raises
    ValueError when the argument is neither a token nor a UUID, and
    TokenNotFoundError when no token matches. Neither message repeats the
    token text.
    """
    condition = _token_condition(token_or_id.strip())
    async with database.write_session() as session:
        row = (
            await session.execute(
                select(ApiToken, col(Team.name))
                .join(Team, col(Team.id) == col(ApiToken.team_id))
                .where(condition)
                .with_for_update()
            )
        ).first()
        if row is None:
            raise TokenNotFoundError(
                "No API token matches the given token or id: check the value; "
                "nothing was revoked."
            )
        token, team_name = row
        already_revoked = token.revoked_at is not None
        if not already_revoked:
            token.revoked_at = utc_now()
            session.add(token)
        assert token.revoked_at is not None
        return RevokedToken(token.id, team_name, token.revoked_at, already_revoked)


def _token_condition(token_or_id: str) -> ColumnElement[bool]:
    if token_or_id.startswith(TOKEN_PREFIX):
        return col(ApiToken.token_hash) == hash_token(token_or_id)
    try:
        token_id = uuid.UUID(token_or_id)
    except ValueError:
        raise ValueError(
            f"expected an API token starting with {TOKEN_PREFIX!r} or a token id "
            "(a UUID); the argument is neither"
        ) from None
    return col(ApiToken.id) == token_id
