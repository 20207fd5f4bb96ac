"""Assignments by pair: an index on the golden resource and project an assignment refers to.

Validating a batch of time entries loads the assignments of the batch's (resource, project)
pairs in one query. Without this index that query reads every golden assignment (50,000 in the
benchmark) for every batch; on the resource alone it visits every assignment of each resource
to keep the few the batch books. It is an expression index on the JSON references, so it is
written per dialect, and the store queries the same expressions (``hub.store.jsonref``) so the
planner can use it. It is not partial (``WHERE domain = 'assignment'``): SQLite, without
statistics, preferred the (domain, search_name) index for that term and read every assignment.

Revision ID: 0008
Revises: 0006
"""

from __future__ import annotations

from alembic import op

revision = "0008"
down_revision = "0006"
branch_labels = None
depends_on = None

INDEX = "ix_golden_record_assignment_pair"


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            f"CREATE INDEX {INDEX} ON golden_record "
            "((\"references\" ->> 'resource'), (\"references\" ->> 'project'))"
        )
        return
    op.execute(
        f"CREATE INDEX {INDEX} ON golden_record "
        "(json_extract(\"references\", '$.resource'), json_extract(\"references\", '$.project'))"
    )


def downgrade() -> None:
    op.execute(f"DROP INDEX IF EXISTS {INDEX}")
