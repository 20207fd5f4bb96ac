"""The key-change log (issue 14, must-have 1): every change to the blocking-key index records
which keys it changed, so appliers can cache the index and drop only what another writer
changed (hub/store/key_log.py). Marks say where the log stood at a time, for pruning.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-05 12:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "key_change",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("writer", sa.BigInteger(), nullable=True),
        sa.Column("domain", sa.String(length=50), nullable=False),
        sa.Column("keys", sa.JSON().with_variant(JSONB(), "postgresql"), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_key_change")),
        sqlite_autoincrement=True,  # the SQLite reader's horizon is an id: never reused
    )
    op.create_index("ix_key_change_writer", "key_change", ["writer"])
    op.create_table(
        "key_change_mark",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("horizon", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_key_change_mark")),
    )


def downgrade() -> None:
    op.drop_table("key_change_mark")
    op.drop_index("ix_key_change_writer", table_name="key_change")
    op.drop_table("key_change")
