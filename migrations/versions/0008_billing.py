"""Assignments by resource: an index on the golden resource an assignment refers to.

Validating a batch of time entries loads the assignments of the batch's resources in one
query; without this index that query reads every golden assignment (50,000 in the benchmark)
for every batch. It is an expression index on the JSON reference, so it is written per dialect,
and the store queries the same expression (``hub.store.jsonref.json_text``) so that
the planner can use it. It is not partial (``WHERE domain = 'assignment'``): SQLite, without
statistics, preferred the (domain, name) index for that term and read every assignment.

Revision ID: 0008
Revises: 0006
"""

from __future__ import annotations

from alembic import op

revision = "0008"
down_revision = "0006"
branch_labels = None
depends_on = None

INDEX = "ix_golden_record_assignment_resource"


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"CREATE INDEX {INDEX} ON golden_record ((\"references\" ->> 'resource'))")
        return
    op.execute(
        f"CREATE INDEX {INDEX} ON golden_record (json_extract(\"references\", '$.resource'))"
    )


def downgrade() -> None:
    op.execute(f"DROP INDEX IF EXISTS {INDEX}")
