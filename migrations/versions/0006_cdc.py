"""Logical decoding connectors: where each stands in its source database.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26 04:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "cdc_slot",
        sa.Column("source", sa.String(length=100), nullable=False),
        sa.Column("slot", sa.String(length=100), nullable=False),
        sa.Column("snapshot_lsn", sa.BigInteger(), nullable=True),
        sa.Column("snapshot_rows", sa.BigInteger(), nullable=False),
        sa.Column("snapshot_done_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("confirmed_lsn", sa.BigInteger(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("source", "slot", name=op.f("pk_cdc_slot")),
    )


def downgrade() -> None:
    op.drop_table("cdc_slot")
