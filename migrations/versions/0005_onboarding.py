"""Onboarding runs: the run table, and the run id on the match candidates a run raised.

``source_record.run_id`` and ``inbox.run_id`` exist since 0001; this indexes the former so a
run's records are found without a scan (status, rollback).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26 04:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def _json() -> sa.types.TypeEngine[object]:
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "onboarding_run",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("source", sa.String(length=100), nullable=False),
        sa.Column("domain", sa.String(length=50), nullable=False),
        sa.Column("file_name", sa.String(length=1000), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("counts", _json(), nullable=False),
        sa.Column("report", _json(), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_onboarding_run")),
    )
    with op.batch_alter_table("match_candidate") as batch:
        batch.add_column(sa.Column("run_id", sa.String(length=64), nullable=True))
        batch.create_index("ix_match_candidate_run", ["run_id", "status"], unique=False)
    op.create_index("ix_source_record_run", "source_record", ["run_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_source_record_run", table_name="source_record")
    with op.batch_alter_table("match_candidate") as batch:
        batch.drop_index("ix_match_candidate_run")
        batch.drop_column("run_id")
    op.drop_table("onboarding_run")
