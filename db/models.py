"""SQLModel tables.

Enum columns are plain strings holding the lower-case values of `db.enums`, as
Truto's REST API writes them, so rows read back carry `str` values.

Every column that a GraphQL filter or order reads has an index; the composite
indexes end in ``id`` because keyset cursors order by ``(sort key, id)``.
Names and tenant ids that clients filter or sort by use `code_point_string`,
so that they sort the same on SQLite and PostgreSQL.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Column, ForeignKey, Index, String, UniqueConstraint
from sqlmodel import Field, SQLModel

from db.crypto import SecretJSON
from db.enums import (
    AuthenticationMethod,
    IntegratedAccountStatus,
    Region,
    SharingPolicy,
    SuperQueryRegion,
)
from db.types import GUID, JSONDocument, UTCDateTime, code_point_string, utc_now


def _id_column() -> Any:
    return Field(default_factory=uuid.uuid4, sa_type=GUID, primary_key=True)


def _timestamp(index: bool = False) -> Any:
    return Field(
        default_factory=utc_now,
        sa_column_kwargs={"nullable": False},
        sa_type=UTCDateTime,
        index=index,
    )


def _foreign_key(target: str, *, nullable: bool = False, index: bool = True) -> Any:
    return Field(
        default=None if nullable else ...,
        sa_column=Column(
            GUID,
            ForeignKey(target, ondelete="CASCADE"),
            nullable=nullable,
            index=index,
        ),
    )


class Team(SQLModel, table=True):
    """An organisation that owns integrations, environments and API tokens."""

    __tablename__ = "team"

    id: uuid.UUID = _id_column()
    name: str = Field(index=True, unique=True, max_length=200)
    created_at: datetime = _timestamp()
    updated_at: datetime = _timestamp()


class Environment(SQLModel, table=True):
    """A team's workspace, such as Production or Staging."""

    __tablename__ = "environment"
    __table_args__ = (
        UniqueConstraint("team_id", "name", name="uq_environment_team_name"),
        Index("ix_environment_created_at_id", "created_at", "id"),
    )

    id: uuid.UUID = _id_column()
    team_id: uuid.UUID = _foreign_key("team.id")
    name: str = Field(index=True, max_length=200, sa_type=code_point_string(200))
    created_at: datetime = _timestamp()
    updated_at: datetime = _timestamp()


class ApiToken(SQLModel, table=True):
    """A bearer token of a team, optionally narrowed to one environment.

    Only the SHA-256 digest of the token is stored.
    """

    __tablename__ = "api_token"

    id: uuid.UUID = _id_column()
    team_id: uuid.UUID = _foreign_key("team.id")
    environment_id: uuid.UUID | None = _foreign_key("environment.id", nullable=True)
    token_hash: str = Field(index=True, unique=True, max_length=64)
    name: str | None = Field(default=None, max_length=200)
    created_at: datetime = _timestamp()
    expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class Integration(SQLModel, table=True):
    """A declarative config for one upstream API, owned by a team."""

    __tablename__ = "integration"
    __table_args__ = (
        UniqueConstraint("team_id", "name", name="uq_integration_team_name"),
        Index("ix_integration_created_at_id", "created_at", "id"),
        Index("ix_integration_updated_at_id", "updated_at", "id"),
        Index("ix_integration_name_id", "name", "id"),
    )

    id: uuid.UUID = _id_column()
    team_id: uuid.UUID = _foreign_key("team.id")
    name: str = Field(max_length=200, sa_type=code_point_string(200))
    category: str = Field(index=True, max_length=100, sa_type=code_point_string(100))
    is_beta: bool = Field(default=False, index=True)
    sharing: SharingPolicy = Field(
        default=SharingPolicy.DENY, index=True, sa_type=String(10)
    )
    # Secret values, such as the OAuth client secret, are stored encrypted.
    config: dict[str, Any] = Field(default_factory=dict, sa_type=SecretJSON)
    version: int = Field(default=1)
    created_at: datetime = _timestamp()
    updated_at: datetime = _timestamp()


class EnvironmentIntegration(SQLModel, table=True):
    """An integration installed in an environment, with its override."""

    __tablename__ = "environment_integration"
    __table_args__ = (
        UniqueConstraint(
            "environment_id", "integration_id", name="uq_environment_integration"
        ),
        Index("ix_environment_integration_created_at_id", "created_at", "id"),
        Index("ix_environment_integration_updated_at_id", "updated_at", "id"),
    )

    id: uuid.UUID = _id_column()
    integration_id: uuid.UUID = _foreign_key("integration.id")
    environment_id: uuid.UUID = _foreign_key("environment.id")
    show_in_catalog: bool = Field(default=True, index=True)
    is_enabled: bool = Field(default=True, index=True)
    override: dict[str, Any] = Field(default_factory=dict, sa_type=SecretJSON)
    created_at: datetime = _timestamp()
    updated_at: datetime = _timestamp()


class IntegratedAccount(SQLModel, table=True):
    """One customer's connection to an upstream app.

    ``integration_id`` repeats the install's integration so that filters and
    orders by integration need no join through ``environment_integration``.
    """

    __tablename__ = "integrated_account"
    __table_args__ = (
        Index("ix_integrated_account_created_at_id", "created_at", "id"),
        Index("ix_integrated_account_updated_at_id", "updated_at", "id"),
        Index("ix_integrated_account_tenant_id_id", "tenant_id", "id"),
        Index("ix_integrated_account_status_id", "status", "id"),
        Index(
            "ix_integrated_account_environment_created_at_id",
            "environment_id",
            "created_at",
            "id",
        ),
        Index(
            "ix_integrated_account_status_created_at_id",
            "status",
            "created_at",
            "id",
        ),
        # Environment tokens, the usual case, read one environment, so each
        # order and the status filter get an index that starts with it.
        Index(
            "ix_integrated_account_environment_updated_at_id",
            "environment_id",
            "updated_at",
            "id",
        ),
        Index(
            "ix_integrated_account_environment_tenant_id_id",
            "environment_id",
            "tenant_id",
            "id",
        ),
        Index(
            "ix_integrated_account_environment_status_created_at_id",
            "environment_id",
            "status",
            "created_at",
            "id",
        ),
    )

    id: uuid.UUID = _id_column()
    tenant_id: str = Field(max_length=500, sa_type=code_point_string(500))
    environment_id: uuid.UUID = _foreign_key("environment.id")
    environment_integration_id: uuid.UUID = _foreign_key("environment_integration.id")
    integration_id: uuid.UUID = _foreign_key("integration.id")
    # Credential values are stored encrypted: keys named like a secret, and the
    # password fields that `graphql_api.secrets.mark_context_secrets` marks.
    context: dict[str, Any] = Field(default_factory=dict, sa_type=SecretJSON)
    status: IntegratedAccountStatus = Field(
        default=IntegratedAccountStatus.CONNECTING, sa_type=String(30)
    )
    last_error: str | None = Field(default=None)
    last_action_result: dict[str, Any] | None = Field(default=None, sa_type=SecretJSON)
    is_sandbox: bool = Field(default=False, index=True)
    authentication_method: AuthenticationMethod | None = Field(
        default=None, index=True, sa_type=String(40)
    )
    region: Region = Field(default=Region.WNAM, index=True, sa_type=String(10))
    super_query: SuperQueryRegion | None = Field(
        default=None, index=True, sa_type=String(10)
    )
    credentials_expire_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_refreshed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_validated_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = _timestamp()
    updated_at: datetime = _timestamp()
    # The lease of the lifecycle run in progress (see graphql_api.lifecycle.lease).
    # A run owns the account while `lease_id` is set and `lease_expires_at` is in
    # the future. A running process renews its lease, so an expired one was left
    # by a process that stopped.
    lease_id: str | None = Field(default=None, max_length=32)
    lease_operation: str | None = Field(default=None, max_length=30)
    lease_expires_at: datetime | None = Field(
        default=None, sa_type=UTCDateTime, index=True
    )


class Event(SQLModel, table=True):
    """A lifecycle event of an integrated account, named as Truto names it.

    ``integrated_account_id`` and ``integration_id`` have no foreign key, so
    that the events of a deleted account stay readable. ``payload`` is the
    account as it was after the event, without credentials.
    """

    __tablename__ = "event"
    __table_args__ = (
        Index("ix_event_created_at_id", "created_at", "id"),
        Index(
            "ix_event_environment_created_at_id", "environment_id", "created_at", "id"
        ),
        Index(
            "ix_event_integrated_account_created_at_id",
            "integrated_account_id",
            "created_at",
            "id",
        ),
        Index("ix_event_type_created_at_id", "type", "created_at", "id"),
    )

    id: uuid.UUID = _id_column()
    type: str = Field(max_length=60)
    environment_id: uuid.UUID = _foreign_key("environment.id", index=False)
    integrated_account_id: uuid.UUID | None = Field(default=None, sa_type=GUID)
    integration_id: uuid.UUID | None = Field(default=None, sa_type=GUID)
    payload: dict[str, Any] = Field(default_factory=dict, sa_type=JSONDocument)
    created_at: datetime = _timestamp()
