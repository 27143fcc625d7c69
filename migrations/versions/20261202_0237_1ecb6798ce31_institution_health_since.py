"""Institutions remember since when they have their current health.

Revision ID: 1ecb6798ce31
Revises: 3b2d73c82e30
Create Date: 2026-12-02 02:37:03.644402
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import relink.models.base


revision: str = '1ecb6798ce31'
down_revision: str | None = '3b2d73c82e30'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('institutions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('health_since', relink.models.base.UTCDateTime(timezone=True), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('institutions', schema=None) as batch_op:
        batch_op.drop_column('health_since')

