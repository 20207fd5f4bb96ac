"""Inbox partitions (issue 14, must-have 2): each change carries a hash of its source record,
and appliers on PostgreSQL claim whole partitions, so two of them never apply one record at
once; the appliers seen lately tell each how many partitions to take. Pending rows are given
their partition here; rows already applied keep 0 (nothing reads it again).

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-05 06:20:00
"""

from __future__ import annotations

import zlib

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None

# the partition rule as it was written; kept here rather than imported, so this revision
# stays as written
_PARTITIONS = 32


def _partition(source: str, domain: str, key: str) -> int:
    return zlib.crc32(f"{source}\x00{domain}\x00{key}".encode()) % _PARTITIONS


def upgrade() -> None:
    with op.batch_alter_table("inbox") as batch:
        batch.add_column(
            sa.Column("partition", sa.SmallInteger(), server_default="0", nullable=False)
        )
    op.create_index("ix_inbox_partition_pending", "inbox", ["status", "partition", "id"])
    op.create_table(
        "applier_seen",
        sa.Column("applier_id", sa.String(length=36), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("backend_pid", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("applier_id", name=op.f("pk_applier_seen")),
    )
    bind = op.get_bind()
    last = 0
    while True:
        rows = bind.execute(
            sa.text(
                "SELECT id, source, domain, source_key FROM inbox"
                " WHERE status = 'pending' AND id > :last ORDER BY id LIMIT 1000"
            ),
            {"last": last},
        ).all()
        if not rows:
            break
        bind.execute(
            sa.text("UPDATE inbox SET partition = :p WHERE id = :id"),
            [{"id": i, "p": _partition(s, d, k)} for i, s, d, k in rows],
        )
        last = rows[-1][0]


def downgrade() -> None:
    op.drop_table("applier_seen")
    op.drop_index("ix_inbox_partition_pending", table_name="inbox")
    with op.batch_alter_table("inbox") as batch:
        batch.drop_column("partition")
