"""Platforms: a website, shown to holders beside the support email.

Revision ID: a4d6f8b0c2e5
Revises: d7a3c5e9b1f4
Create Date: 2026-12-03 14:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = 'a4d6f8b0c2e5'
down_revision: str | None = 'd7a3c5e9b1f4'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('platforms', schema=None) as batch_op:
        batch_op.add_column(sa.Column('website_url', sa.String(length=2048), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('platforms', schema=None) as batch_op:
        batch_op.drop_column('website_url')
