"""Create the initial tables.

Revision ID: 0001
Revises:
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from db.types import GUID, JSONDocument, UTCDateTime

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _id() -> sa.Column[object]:
    return sa.Column("id", GUID(), primary_key=True)


def _reference(name: str, target: str, *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(
        name,
        GUID(),
        sa.ForeignKey(target, ondelete="CASCADE"),
        nullable=nullable,
    )


def _timestamp(name: str, *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, UTCDateTime(timezone=True), nullable=nullable)


def _indexes(table: str, *columns: str) -> None:
    """Create one single-column index per column, named as SQLModel names them."""
    for column in columns:
        op.create_index(f"ix_{table}_{column}", table, [column])


def upgrade() -> None:
    op.create_table(
        "team",
        _id(),
        sa.Column("name", sa.String(200), nullable=False),
        _timestamp("created_at"),
        _timestamp("updated_at"),
    )
    op.create_index("ix_team_name", "team", ["name"], unique=True)

    op.create_table(
        "environment",
        _id(),
        _reference("team_id", "team.id"),
        sa.Column("name", sa.String(200), nullable=False),
        _timestamp("created_at"),
        _timestamp("updated_at"),
        sa.UniqueConstraint("team_id", "name", name="uq_environment_team_name"),
    )
    _indexes("environment", "team_id", "name")
    op.create_index("ix_environment_created_at_id", "environment", ["created_at", "id"])

    op.create_table(
        "api_token",
        _id(),
        _reference("team_id", "team.id"),
        _reference("environment_id", "environment.id", nullable=True),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=True),
        _timestamp("created_at"),
        _timestamp("expires_at", nullable=True),
        _timestamp("revoked_at", nullable=True),
        _timestamp("last_used_at", nullable=True),
    )
    _indexes("api_token", "team_id", "environment_id")
    op.create_index("ix_api_token_token_hash", "api_token", ["token_hash"], unique=True)

    op.create_table(
        "integration",
        _id(),
        _reference("team_id", "team.id"),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("category", sa.String(100), nullable=False),
        sa.Column("is_beta", sa.Boolean(), nullable=False),
        sa.Column("sharing", sa.String(10), nullable=False),
        sa.Column("config", JSONDocument, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        _timestamp("created_at"),
        _timestamp("updated_at"),
        sa.UniqueConstraint("team_id", "name", name="uq_integration_team_name"),
    )
    _indexes("integration", "team_id", "category", "is_beta", "sharing")
    op.create_index("ix_integration_created_at_id", "integration", ["created_at", "id"])
    op.create_index("ix_integration_updated_at_id", "integration", ["updated_at", "id"])
    op.create_index("ix_integration_name_id", "integration", ["name", "id"])

    op.create_table(
        "environment_integration",
        _id(),
        _reference("integration_id", "integration.id"),
        _reference("environment_id", "environment.id"),
        sa.Column("show_in_catalog", sa.Boolean(), nullable=False),
        sa.Column("is_enabled", sa.Boolean(), nullable=False),
        sa.Column("override", JSONDocument, nullable=False),
        _timestamp("created_at"),
        _timestamp("updated_at"),
        sa.UniqueConstraint(
            "environment_id", "integration_id", name="uq_environment_integration"
        ),
    )
    _indexes(
        "environment_integration",
        "integration_id",
        "environment_id",
        "show_in_catalog",
        "is_enabled",
    )
    op.create_index(
        "ix_environment_integration_created_at_id",
        "environment_integration",
        ["created_at", "id"],
    )
    op.create_index(
        "ix_environment_integration_updated_at_id",
        "environment_integration",
        ["updated_at", "id"],
    )

    op.create_table(
        "integrated_account",
        _id(),
        sa.Column("tenant_id", sa.String(500), nullable=False),
        _reference("environment_id", "environment.id"),
        _reference("environment_integration_id", "environment_integration.id"),
        _reference("integration_id", "integration.id"),
        sa.Column("context", JSONDocument, nullable=False),
        sa.Column("status", sa.String(30), nullable=False),
        sa.Column("last_error", sa.String(), nullable=True),
        sa.Column("last_action_result", JSONDocument, nullable=True),
        sa.Column("is_sandbox", sa.Boolean(), nullable=False),
        sa.Column("authentication_method", sa.String(40), nullable=True),
        sa.Column("region", sa.String(10), nullable=False),
        sa.Column("super_query", sa.String(10), nullable=True),
        _timestamp("credentials_expire_at", nullable=True),
        _timestamp("last_refreshed_at", nullable=True),
        _timestamp("last_validated_at", nullable=True),
        _timestamp("created_at"),
        _timestamp("updated_at"),
    )
    _indexes(
        "integrated_account",
        "environment_id",
        "environment_integration_id",
        "integration_id",
        "is_sandbox",
        "authentication_method",
        "region",
        "super_query",
    )
    composite_indexes = {
        "ix_integrated_account_created_at_id": ["created_at", "id"],
        "ix_integrated_account_updated_at_id": ["updated_at", "id"],
        "ix_integrated_account_tenant_id_id": ["tenant_id", "id"],
        "ix_integrated_account_status_id": ["status", "id"],
        "ix_integrated_account_environment_created_at_id": [
            "environment_id",
            "created_at",
            "id",
        ],
        "ix_integrated_account_status_created_at_id": ["status", "created_at", "id"],
    }
    for name, columns in composite_indexes.items():
        op.create_index(name, "integrated_account", columns)


def downgrade() -> None:
    # Dropping a table drops its indexes too. Children go before parents so
    # that no foreign key points at a dropped table.
    for table in (
        "integrated_account",
        "environment_integration",
        "integration",
        "api_token",
        "environment",
        "team",
    ):
        op.drop_table(table)
