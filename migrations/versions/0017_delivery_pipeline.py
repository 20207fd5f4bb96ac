"""Delivery as a pipeline (issue 14, must-have 3): a commit of outbox rows wakes the delivery
worker of any process on PostgreSQL (a statement trigger notifies ``concord_outbox``; the
notification goes out when the transaction commits, never before), and each subscription's
pending deliveries are found in outbox order by one index.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-04 13:00:00
"""

from __future__ import annotations

from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_delivery_subscription_status_seq",
        "delivery",
        ["subscription_id", "status", "seq"],
    )
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        "CREATE OR REPLACE FUNCTION concord_outbox_notify() RETURNS trigger"
        " LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_notify('concord_outbox', ''); RETURN NULL; END $$"
    )
    op.execute(
        "CREATE TRIGGER outbox_notify AFTER INSERT ON outbox"
        " FOR EACH STATEMENT EXECUTE FUNCTION concord_outbox_notify()"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS outbox_notify ON outbox")
        op.execute("DROP FUNCTION IF EXISTS concord_outbox_notify()")
    op.drop_index("ix_delivery_subscription_status_seq", table_name="delivery")
