"""A commit of inbox rows wakes the appliers of any process on PostgreSQL (issue 14): with
``concord serve`` running its applier as a process of its own, an accepted change waited for
the applier's next poll (``CONCORD_WORKER_IDLE_SECONDS``) when the inbox had been idle. A
statement trigger notifies ``concord_inbox``, sent at commit and folded into one per
transaction, as the outbox's does for delivery (migration 0017).

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-06 06:00:00
"""

from __future__ import annotations

from alembic import op

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        "CREATE OR REPLACE FUNCTION concord_inbox_notify() RETURNS trigger"
        " LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_notify('concord_inbox', ''); RETURN NULL; END $$"
    )
    op.execute(
        "CREATE TRIGGER inbox_notify AFTER INSERT ON inbox"
        " FOR EACH STATEMENT EXECUTE FUNCTION concord_inbox_notify()"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS inbox_notify ON inbox")
        op.execute("DROP FUNCTION IF EXISTS concord_inbox_notify()")
