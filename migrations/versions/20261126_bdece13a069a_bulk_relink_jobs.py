"""bulk relink jobs

Revision ID: bdece13a069a
Revises: 66a8eac1dbe7
Create Date: 2026-11-26 06:06:44.470594
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import relink.models.base
from sqlalchemy import Text  # noqa: F401
from sqlalchemy.dialects import postgresql  # noqa: F401

revision: str = 'bdece13a069a'
down_revision: str | None = '66a8eac1dbe7'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('bulk_relink_jobs',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('selection', sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql'), nullable=False),
    sa.Column('total', sa.Integer(), nullable=True),
    sa.Column('processed', sa.Integer(), nullable=False),
    sa.Column('created', sa.Integer(), nullable=False),
    sa.Column('skipped', sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql'), nullable=False),
    sa.Column('created_by', sa.String(length=60), nullable=False),
    sa.Column('dedupe_key', sa.String(length=200), nullable=False),
    sa.Column('cursor', sa.String(length=40), nullable=True),
    sa.Column('locked_by', sa.String(length=80), nullable=True),
    sa.Column('locked_until', relink.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', relink.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('started_at', relink.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('finished_at', relink.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('livemode', sa.Boolean(), nullable=False),
    sa.Column('platform_id', sa.String(length=40), nullable=False),
    sa.ForeignKeyConstraint(['platform_id'], ['platforms.id'], name=op.f('fk_bulk_relink_jobs_platform_id_platforms'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_bulk_relink_jobs')),
    sa.UniqueConstraint('platform_id', 'livemode', 'dedupe_key', name='uq_bulk_relink_jobs_dedupe_key')
    )
    with op.batch_alter_table('bulk_relink_jobs', schema=None) as batch_op:
        batch_op.create_index('ix_bulk_relink_jobs_scope_id', ['platform_id', 'livemode', 'id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('bulk_relink_jobs', schema=None) as batch_op:
        batch_op.drop_index('ix_bulk_relink_jobs_scope_id')

    op.drop_table('bulk_relink_jobs')
