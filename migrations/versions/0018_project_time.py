"""Time entries validated per golden project, so a lost deal's shell with time on it waits for
a person instead of being cancelled (issue 17, must-have 3).

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-04 13:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "project_time",
        sa.Column("golden_id", sa.String(length=36), nullable=False),
        sa.Column("entries", sa.BigInteger(), nullable=False),
        sa.Column("first_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("golden_id", name=op.f("pk_project_time")),
    )


def downgrade() -> None:
    op.drop_table("project_time")
