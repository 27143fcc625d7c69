"""Bounce tokens and the email suppression list

Revision ID: 9be41b30422b
Revises: c2aa264cb92c
Create Date: 2026-12-02 07:07:05.068272
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import relink.models.base


revision: str = '9be41b30422b'
down_revision: str | None = 'c2aa264cb92c'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('bounce_tokens',
    sa.Column('digest', sa.String(length=64), nullable=False),
    sa.Column('session_id', sa.String(length=40), nullable=True),
    sa.Column('recipient', sa.String(length=320), nullable=False),
    sa.Column('message_id', sa.String(length=250), nullable=False),
    sa.Column('created_at', relink.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('livemode', sa.Boolean(), nullable=False),
    sa.Column('platform_id', sa.String(length=40), nullable=False),
    sa.ForeignKeyConstraint(['platform_id'], ['platforms.id'], name=op.f('fk_bounce_tokens_platform_id_platforms'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('digest', name=op.f('pk_bounce_tokens'))
    )
    op.create_table('email_suppressions',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('address', sa.String(length=320), nullable=False),
    sa.Column('reason', sa.String(length=20), nullable=True),
    sa.Column('diagnostic', sa.Text(), nullable=True),
    sa.Column('session_id', sa.String(length=40), nullable=True),
    sa.Column('suppressed_at', relink.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('until', relink.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('lifted_at', relink.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('lifted_by', sa.String(length=320), nullable=True),
    sa.Column('transient_failures', sa.Integer(), nullable=False),
    sa.Column('first_transient_at', relink.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('updated_at', relink.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('livemode', sa.Boolean(), nullable=False),
    sa.Column('platform_id', sa.String(length=40), nullable=False),
    sa.ForeignKeyConstraint(['platform_id'], ['platforms.id'], name=op.f('fk_email_suppressions_platform_id_platforms'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_email_suppressions'))
    )
    with op.batch_alter_table('email_suppressions', schema=None) as batch_op:
        batch_op.create_index('ix_email_suppressions_scope_address', ['platform_id', 'livemode', 'address'], unique=True)



def downgrade() -> None:
    with op.batch_alter_table('email_suppressions', schema=None) as batch_op:
        batch_op.drop_index('ix_email_suppressions_scope_address')

    op.drop_table('email_suppressions')
    op.drop_table('bounce_tokens')
