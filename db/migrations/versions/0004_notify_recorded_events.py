"""Announce each new event row with NOTIFY on PostgreSQL.

The ``event_recorded`` trigger sends the event id on the
``integrated_account_events`` channel. PostgreSQL delivers a notification
when its transaction commits, so listeners (the subscription feed in
`graphql_api.event_feed`) learn of every committed event, whichever process
wrote it, and in commit order. SQLite has no NOTIFY: the feed polls there,
so nothing changes on SQLite.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_CREATE_FUNCTION = """
CREATE FUNCTION notify_event_recorded() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('integrated_account_events', NEW.id::text);
    RETURN NULL;
END
$$
"""

_CREATE_TRIGGER = """
CREATE TRIGGER event_recorded AFTER INSERT ON event
FOR EACH ROW EXECUTE FUNCTION notify_event_recorded()
"""


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(_CREATE_FUNCTION)
    op.execute(_CREATE_TRIGGER)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER event_recorded ON event")
    op.execute("DROP FUNCTION notify_event_recorded()")
