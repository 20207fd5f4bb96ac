"""Notes on match candidates: why a field weighed less (a generic value) or why a high score
waits for a steward (no name agreement, a source that keeps its records apart).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04 07:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    json = sa.JSON().with_variant(JSONB(), "postgresql")
    with op.batch_alter_table("match_candidate") as batch:
        batch.add_column(sa.Column("notes", json, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("match_candidate") as batch:
        batch.drop_column("notes")
