"""The outreach report's daily rollup, and each scope's refresh state.

Revision ID: 290c7fab48f8
Revises: b7d41e9a2c55
Create Date: 2026-12-02 10:23:03.211594
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy import Text
from sqlalchemy.dialects import postgresql

import relink.models.base
from sqlalchemy.dialects import postgresql

revision: str = '290c7fab48f8'
down_revision: str | None = 'b7d41e9a2c55'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('outreach_days',
    sa.Column('platform_id', sa.String(length=40), nullable=False),
    sa.Column('livemode', sa.Boolean(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('institution_key', sa.String(length=40), nullable=False),
    sa.Column('reason_key', sa.String(length=30), nullable=False),
    sa.Column('requested', sa.Integer(), nullable=False),
    sa.Column('repaired', sa.Integer(), nullable=False),
    sa.Column('steps', sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql'), nullable=False),
    sa.Column('emails', sa.Integer(), nullable=False),
    sa.Column('repaired_accounts', sa.Integer(), nullable=False),
    sa.Column('repair_seconds', sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql'), nullable=False),
    sa.ForeignKeyConstraint(['platform_id'], ['platforms.id'], name=op.f('fk_outreach_days_platform_id_platforms'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('platform_id', 'livemode', 'day', 'institution_key', 'reason_key', name=op.f('pk_outreach_days'))
    )
    op.create_table('outreach_rollups',
    sa.Column('platform_id', sa.String(length=40), nullable=False),
    sa.Column('livemode', sa.Boolean(), nullable=False),
    sa.Column('refreshed_at', relink.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('covered_from', sa.Date(), nullable=False),
    sa.ForeignKeyConstraint(['platform_id'], ['platforms.id'], name=op.f('fk_outreach_rollups_platform_id_platforms'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('platform_id', 'livemode', name=op.f('pk_outreach_rollups'))
    )


def downgrade() -> None:
    op.drop_table('outreach_rollups')
    op.drop_table('outreach_days')
