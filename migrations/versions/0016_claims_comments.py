"""Stewards claim match candidates so that two do not decide the same one, and comment on
candidates and golden records (issue 16, item 5).

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-04 12:45:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "candidate_claim",
        sa.Column("candidate_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("steward", sa.String(100), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("candidate_id", name=op.f("pk_candidate_claim")),
    )
    op.create_index("ix_candidate_claim_steward", "candidate_claim", ["steward", "expires_at"])
    op.create_table(
        "steward_comment",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("kind", sa.String(12), nullable=False),
        sa.Column("target", sa.String(64), nullable=False),
        sa.Column("author", sa.String(100), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_steward_comment")),
    )
    op.create_index("ix_steward_comment_target", "steward_comment", ["kind", "target", "id"])


def downgrade() -> None:
    op.drop_index("ix_steward_comment_target", table_name="steward_comment")
    op.drop_table("steward_comment")
    op.drop_index("ix_candidate_claim_steward", table_name="candidate_claim")
    op.drop_table("candidate_claim")
