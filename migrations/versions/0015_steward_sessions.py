"""Steward sessions that end on the server: a generation per steward, carried in the session
cookie and advanced by logout, so a copy of the cookie stops working (issue 19, item 12).

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-04 10:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("steward", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("session_generation", sa.Integer(), nullable=False, server_default="0")
        )


def downgrade() -> None:
    with op.batch_alter_table("steward", schema=None) as batch_op:
        batch_op.drop_column("session_generation")
