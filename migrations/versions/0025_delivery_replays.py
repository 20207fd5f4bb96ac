"""Deliveries count the replays that reset them (issue 14, an audit of delivery): a replay
that reset a delivery whose request was in flight had that request's outcome written over
the reset, so the replayed record ended on an older version at the subscriber. An outcome is
now written only if no replay came since its delivery was read (``hub/store/deliveries.py``).

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-06 16:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "delivery", sa.Column("replays", sa.Integer(), nullable=False, server_default="0")
    )


def downgrade() -> None:
    op.drop_column("delivery", "replays")
