"""Assignments by pair: the index on the golden resource an assignment refers to gains the
golden project.

Validating a batch of time entries loads the assignments of the batch's (resource, project)
pairs in one query. On the resource alone (0008) that query visited every assignment of each
resource to keep the few the batch books; on the pair it finds them in the index. Written per
dialect, with the same expressions the store queries (``hub.store.jsonref.json_text``).

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

OLD = "ix_golden_record_assignment_resource"
NEW = "ix_golden_record_assignment_pair"


def _expressions(members: tuple[str, ...]) -> str:
    if op.get_bind().dialect.name == "postgresql":
        return ", ".join(f"(\"references\" ->> '{m}')" for m in members)
    return ", ".join(f"json_extract(\"references\", '$.{m}')" for m in members)


def upgrade() -> None:
    op.execute(f"DROP INDEX IF EXISTS {OLD}")
    op.execute(f"CREATE INDEX {NEW} ON golden_record ({_expressions(('resource', 'project'))})")


def downgrade() -> None:
    op.execute(f"DROP INDEX IF EXISTS {NEW}")
    op.execute(f"CREATE INDEX {OLD} ON golden_record ({_expressions(('resource',))})")
