"""Match candidates keep one snapshot of their evidence: the golden record's version they
were scored against and the level per field beside the weights; an index finds the pending
candidates of a golden record that is merged or retired.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-04 11:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    json = sa.JSON().with_variant(JSONB(), "postgresql")
    with op.batch_alter_table("match_candidate") as batch:
        batch.add_column(sa.Column("golden_version", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("levels", json, nullable=True))
    op.create_index("ix_match_candidate_golden", "match_candidate", ["golden_id", "status"])


def downgrade() -> None:
    op.drop_index("ix_match_candidate_golden", table_name="match_candidate")
    with op.batch_alter_table("match_candidate") as batch:
        batch.drop_column("levels")
        batch.drop_column("golden_version")
