"""Platforms: a website, shown to holders beside the support email.

Revision ID: a4d6f8b0c2e5
Revises: e2b4d6f8a1c3
Create Date: 2026-12-03 14:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = 'a4d6f8b0c2e5'
down_revision: str | None = 'e2b4d6f8a1c3'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('platforms', schema=None) as batch_op:
        batch_op.add_column(sa.Column('website_url', sa.String(length=2048), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('platforms', schema=None) as batch_op:
        batch_op.drop_column('website_url')
