"""The inbox's pending rows get a partial index of their ids (issue 14): a claim asks for the
oldest pending rows, and with an index on (status, id) PostgreSQL's planner, which assumes the
pending rows are spread evenly over the table, came to prefer walking the primary key and
filtering: once most rows were applied a claim read every one of them, 12-20 ms per batch
and growing. An index that holds only pending rows is the cheapest plan whatever the
statistics say, and rows leave it as they are applied. The (status, partition, id) index
had no reader left.

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-05 17:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None

_PENDING = sa.text("status = 'pending'")


def upgrade() -> None:
    op.drop_index("ix_inbox_partition_pending", table_name="inbox")
    op.drop_index("ix_inbox_pending", table_name="inbox")
    op.create_index(
        "ix_inbox_pending", "inbox", ["id"], postgresql_where=_PENDING, sqlite_where=_PENDING
    )


def downgrade() -> None:
    op.drop_index("ix_inbox_pending", table_name="inbox")
    op.create_index("ix_inbox_pending", "inbox", ["status", "id"])
    op.create_index("ix_inbox_partition_pending", "inbox", ["status", "partition", "id"])
