"""Bounce reports acted on, by digest: the same report read twice is acted on once.

Revision ID: 3e8b5c0d7a16
Revises: 4e8b1c9d2f70
Create Date: 2026-12-02 14:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import relink.models.base

revision: str = '3e8b5c0d7a16'
down_revision: str | None = '4e8b1c9d2f70'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'bounce_reports',
        sa.Column('digest', sa.String(length=64), nullable=False),
        sa.Column('outcome', sa.String(length=20), nullable=False),
        sa.Column(
            'received_at', relink.models.base.UTCDateTime(timezone=True), nullable=False
        ),
        sa.PrimaryKeyConstraint('digest', name=op.f('pk_bounce_reports')),
    )


def downgrade() -> None:
    op.drop_table('bounce_reports')
