"""Add the event table and the lease columns of integrated accounts.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from db.types import GUID, JSONDocument, UTCDateTime

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_EVENT_INDEXES = {
    "ix_event_created_at_id": ["created_at", "id"],
    "ix_event_environment_created_at_id": ["environment_id", "created_at", "id"],
    "ix_event_integrated_account_created_at_id": [
        "integrated_account_id",
        "created_at",
        "id",
    ],
    "ix_event_type_created_at_id": ["type", "created_at", "id"],
}


def upgrade() -> None:
    # SQLite adds nullable columns in place, so no table copy is needed.
    op.add_column(
        "integrated_account", sa.Column("lease_id", sa.String(32), nullable=True)
    )
    op.add_column(
        "integrated_account",
        sa.Column("lease_operation", sa.String(30), nullable=True),
    )
    op.add_column(
        "integrated_account",
        sa.Column("lease_expires_at", UTCDateTime(timezone=True), nullable=True),
    )
    op.create_index(
        "ix_integrated_account_lease_expires_at",
        "integrated_account",
        ["lease_expires_at"],
    )

    op.create_table(
        "event",
        sa.Column("id", GUID(), primary_key=True),
        sa.Column("type", sa.String(60), nullable=False),
        sa.Column(
            "environment_id",
            GUID(),
            sa.ForeignKey("environment.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("integrated_account_id", GUID(), nullable=True),
        sa.Column("integration_id", GUID(), nullable=True),
        sa.Column("payload", JSONDocument, nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
    )
    for name, columns in _EVENT_INDEXES.items():
        op.create_index(name, "event", columns)


def downgrade() -> None:
    op.drop_table("event")
    op.drop_index("ix_integrated_account_lease_expires_at", "integrated_account")
    with op.batch_alter_table("integrated_account") as batch:
        batch.drop_column("lease_expires_at")
        batch.drop_column("lease_operation")
        batch.drop_column("lease_id")
