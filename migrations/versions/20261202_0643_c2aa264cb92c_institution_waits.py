"""Holders who met "your bank is unavailable" wait to be told it is back.

Revision ID: c2aa264cb92c
Revises: 6f3a3f7c2f9d
Create Date: 2026-12-02 06:43:41.783826
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import relink.models.base


revision: str = 'c2aa264cb92c'
down_revision: str | None = '6f3a3f7c2f9d'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('institution_waits',
    sa.Column('session_id', sa.String(length=40), nullable=False),
    sa.Column('institution_id', sa.String(length=40), nullable=False),
    sa.Column('met_at', relink.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('notified_at', relink.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('livemode', sa.Boolean(), nullable=False),
    sa.Column('platform_id', sa.String(length=40), nullable=False),
    sa.ForeignKeyConstraint(['institution_id'], ['institutions.id'], name=op.f('fk_institution_waits_institution_id_institutions')),
    sa.ForeignKeyConstraint(['platform_id'], ['platforms.id'], name=op.f('fk_institution_waits_platform_id_platforms'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['session_id'], ['sessions.id'], name=op.f('fk_institution_waits_session_id_sessions'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('session_id', name=op.f('pk_institution_waits'))
    )
    with op.batch_alter_table('institution_waits', schema=None) as batch_op:
        batch_op.create_index('ix_institution_waits_institution', ['institution_id', 'notified_at'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('institution_waits', schema=None) as batch_op:
        batch_op.drop_index('ix_institution_waits_institution')

    op.drop_table('institution_waits')
