"""Golden records keep the values the matcher compares (issue 14): a candidate read to be
scored had every view's name, website, phone and address normalised again (at 1M golden
clients, most candidates of an onboarding load are met once), though survival had just
computed them from the same views when it wrote the record. Kept as plain JSON, not JSONB:
nothing queries it, and it is read and written whole. Stamped with what it was computed from
(hub/services/compared.py), so a value from an older version, another member or another match
spec is never used.

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-05 23:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("golden_record", sa.Column("compared", sa.JSON(), nullable=True))


def downgrade() -> None:
    op.drop_column("golden_record", "compared")
