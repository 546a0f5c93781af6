"""Index integrated accounts per environment for each order and the status filter.

A token narrowed to one environment lists that environment's accounts, so
indexes that start with ``environment_id`` let both databases read a page in
the requested order without sorting the whole environment.

NOTE: on PostgreSQL, CREATE INDEX blocks writes to the table until it ends,
and CREATE INDEX CONCURRENTLY cannot run inside the migration's transaction.
Upgrade a large database while writes are low.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_INDEXES = {
    "ix_integrated_account_environment_updated_at_id": [
        "environment_id",
        "updated_at",
        "id",
    ],
    "ix_integrated_account_environment_tenant_id_id": [
        "environment_id",
        "tenant_id",
        "id",
    ],
    "ix_integrated_account_environment_status_created_at_id": [
        "environment_id",
        "status",
        "created_at",
        "id",
    ],
}


def upgrade() -> None:
    for name, columns in _INDEXES.items():
        op.create_index(name, "integrated_account", columns)


def downgrade() -> None:
    for name in _INDEXES:
        op.drop_index(name, "integrated_account")
