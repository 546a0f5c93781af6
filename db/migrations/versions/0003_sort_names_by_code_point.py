"""Sort names and tenant ids by code point on PostgreSQL.

The columns move to the "C" collation, which orders text as SQLite does and
lets their B-tree indexes serve prefix matches. PostgreSQL rebuilds the
indexes of a column whose collation changes. SQLite already compares these
columns by code point, so nothing changes there.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Table, column and length of each column that moves to the "C" collation.
_COLUMNS = (
    ("environment", "name", 200),
    ("integration", "name", 200),
    ("integration", "category", 100),
    ("integrated_account", "tenant_id", 500),
)


def _set_collation(collation: str | None) -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, column, length in _COLUMNS:
        op.alter_column(
            table,
            column,
            type_=sa.String(length, collation=collation),
            existing_type=sa.String(length),
            existing_nullable=False,
        )


def upgrade() -> None:
    _set_collation("C")


def downgrade() -> None:
    # Without a collation, a column uses the database's default one.
    _set_collation(None)
