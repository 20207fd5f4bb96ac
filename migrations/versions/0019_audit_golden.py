"""The audit entries that name each golden record, so the steward page's trail reads them by
index instead of scanning every entry's text (issue 16, must-have 4). Entries already written
are indexed here, by the ids found in their detail.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-04 15:20:00
"""

from __future__ import annotations

import json
import re
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

# the shape of a golden id; kept here rather than imported, so this revision stays as written
_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _ids(value: Any) -> set[str]:
    if isinstance(value, str):
        return set(_ID.findall(value))
    if isinstance(value, dict):
        return {i for v in value.values() for i in _ids(v)}
    if isinstance(value, list):
        return {i for v in value for i in _ids(v)}
    return set()


def upgrade() -> None:
    table = op.create_table(
        "audit_golden",
        sa.Column("golden_id", sa.String(length=36), nullable=False),
        sa.Column("audit_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.PrimaryKeyConstraint("golden_id", "audit_id", name=op.f("pk_audit_golden")),
    )
    bind = op.get_bind()
    last = 0
    while True:
        rows = bind.execute(
            sa.text("SELECT id, detail FROM audit_log WHERE id > :last ORDER BY id LIMIT 1000"),
            {"last": last},
        ).all()
        if not rows:
            break
        found = []
        for entry_id, detail in rows:
            parsed = json.loads(detail) if isinstance(detail, str) else detail
            found += [{"golden_id": g, "audit_id": entry_id} for g in sorted(_ids(parsed))]
        if found:
            op.bulk_insert(table, found)
        last = rows[-1][0]


def downgrade() -> None:
    op.drop_table("audit_golden")
