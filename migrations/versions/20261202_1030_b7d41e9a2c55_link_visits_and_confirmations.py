"""Hosted links: fresh visits (to tell scanners from people) and two-step confirmations.

Revision ID: b7d41e9a2c55
Revises: 6465c1c66acf
Create Date: 2026-12-02 10:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import relink.models.base


revision: str = 'b7d41e9a2c55'
down_revision: str | None = '6465c1c66acf'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('link_visits',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('session_id', sa.String(length=40), nullable=False),
    sa.Column('client_digest', sa.String(length=64), nullable=False),
    sa.Column('at', relink.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('livemode', sa.Boolean(), nullable=False),
    sa.Column('platform_id', sa.String(length=40), nullable=False),
    sa.ForeignKeyConstraint(['platform_id'], ['platforms.id'], name=op.f('fk_link_visits_platform_id_platforms'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['session_id'], ['sessions.id'], name=op.f('fk_link_visits_session_id_sessions'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_link_visits'))
    )
    with op.batch_alter_table('link_visits', schema=None) as batch_op:
        batch_op.create_index('ix_link_visits_client', ['platform_id', 'livemode', 'client_digest', 'at'], unique=False)
        batch_op.create_index('ix_link_visits_session', ['session_id'], unique=False)

    # Plain ALTER TABLE (not batch mode) on SQLite too: it adds and drops a column
    # natively, and batch mode would reflect the tables hosted_flows references.
    op.add_column('hosted_flows', sa.Column('confirming', sa.String(length=20), nullable=True))
    op.add_column('hosted_flows', sa.Column('confirm_asked_at', relink.models.base.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.drop_column('hosted_flows', 'confirm_asked_at')
    op.drop_column('hosted_flows', 'confirming')

    with op.batch_alter_table('link_visits', schema=None) as batch_op:
        batch_op.drop_index('ix_link_visits_session')
        batch_op.drop_index('ix_link_visits_client')

    op.drop_table('link_visits')
