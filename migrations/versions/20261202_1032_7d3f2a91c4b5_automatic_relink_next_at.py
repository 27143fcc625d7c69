"""Automatic relink: when the scan next acts for an episode, indexed per scope.

Revision ID: 7d3f2a91c4b5
Revises: 290c7fab48f8
Create Date: 2026-12-02 10:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import relink.models.base

revision: str = '7d3f2a91c4b5'
down_revision: str | None = '290c7fab48f8'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# Plain ALTER TABLE (not batch mode) on SQLite too: it adds a column and drops one
# natively, and batch mode would reflect the tables the episodes reference.
def upgrade() -> None:
    op.add_column(
        'automatic_relinks',
        sa.Column('next_at', relink.models.base.UTCDateTime(timezone=True), nullable=True),
    )
    op.create_index(
        'ix_automatic_relinks_scope_next',
        'automatic_relinks',
        ['platform_id', 'livemode', 'next_at'],
    )


def downgrade() -> None:
    op.drop_index('ix_automatic_relinks_scope_next', table_name='automatic_relinks')
    op.drop_column('automatic_relinks', 'next_at')
