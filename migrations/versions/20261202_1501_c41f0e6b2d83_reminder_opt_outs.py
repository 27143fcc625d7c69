"""Reminder opt-outs: holders who asked for no more reminders, per platform and mode.

Revision ID: c41f0e6b2d83
Revises: c4e8b2d7a913
Create Date: 2026-12-02 15:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import relink.models.base

revision: str = 'c41f0e6b2d83'
down_revision: str | None = 'c4e8b2d7a913'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('reminder_opt_outs',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('holder_id', sa.String(length=40), nullable=False),
    sa.Column('source', sa.String(length=20), nullable=False),
    sa.Column('created_at', relink.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('cleared_at', relink.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('cleared_by', sa.String(length=320), nullable=True),
    sa.Column('livemode', sa.Boolean(), nullable=False),
    sa.Column('platform_id', sa.String(length=40), nullable=False),
    sa.ForeignKeyConstraint(['platform_id'], ['platforms.id'], name=op.f('fk_reminder_opt_outs_platform_id_platforms'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_reminder_opt_outs'))
    )
    with op.batch_alter_table('reminder_opt_outs', schema=None) as batch_op:
        batch_op.create_index('ix_reminder_opt_outs_scope_holder', ['platform_id', 'livemode', 'holder_id'], unique=True)


def downgrade() -> None:
    with op.batch_alter_table('reminder_opt_outs', schema=None) as batch_op:
        batch_op.drop_index('ix_reminder_opt_outs_scope_holder')

    op.drop_table('reminder_opt_outs')
