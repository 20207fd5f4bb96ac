"""Project setup: the shells made from contracted opportunities, the setup exceptions that
wait for a fix, the data-quality issues of golden projects, and the outbox cursor of the
process that keeps them.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-04 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    json = sa.JSON().with_variant(JSONB(), "postgresql")
    op.create_table(
        "project_shell",
        sa.Column("opportunity_id", sa.String(36), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(100), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("client_id", sa.String(36), nullable=True),
        sa.Column("contracted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("linked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("opportunity_id", name="pk_project_shell"),
        sa.UniqueConstraint("number", name="uq_project_shell_number"),
    )
    op.create_table(
        "setup_exception",
        sa.Column("opportunity_id", sa.String(36), nullable=False),
        sa.Column("client_id", sa.String(36), nullable=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("problems", json, nullable=False),
        sa.Column("decided_by", sa.String(100), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("opportunity_id", name="pk_setup_exception"),
    )
    op.create_index("ix_setup_exception_client", "setup_exception", ["client_id", "status"])
    op.create_table(
        "data_quality",
        sa.Column("golden_id", sa.String(36), nullable=False),
        sa.Column("domain", sa.String(50), nullable=False),
        sa.Column("issues", json, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("golden_id", name="pk_data_quality"),
    )
    op.create_table(
        "setup_cursor",
        sa.Column("name", sa.String(50), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_setup_cursor"),
    )


def downgrade() -> None:
    op.drop_table("setup_cursor")
    op.drop_table("data_quality")
    op.drop_index("ix_setup_exception_client", table_name="setup_exception")
    op.drop_table("setup_exception")
    op.drop_table("project_shell")
