"""Read scopes: the domains an API key reads and whether it reads personal fields, and whether
a subscription sends them (issue 19, item 13). Existing keys keep reading what they read
(a subscriber every domain, a source its own), without personal fields.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-04 10:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    json = sa.JSON().with_variant(JSONB(), "postgresql")
    with op.batch_alter_table("api_key") as batch:
        batch.add_column(sa.Column("read_domains", json, nullable=True))
        batch.add_column(
            sa.Column("personal", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    with op.batch_alter_table("subscription") as batch:
        batch.add_column(
            sa.Column("personal", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("subscription") as batch:
        batch.drop_column("personal")
    with op.batch_alter_table("api_key") as batch:
        batch.drop_column("personal")
        batch.drop_column("read_domains")
