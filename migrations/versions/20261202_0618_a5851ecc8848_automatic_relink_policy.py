"""Automatic relink: each platform's policy per mode, and the automation's state per account.

Revision ID: a5851ecc8848
Revises: 1ecb6798ce31
Create Date: 2026-12-02 06:18:37.758272
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import relink.models.base
from sqlalchemy import Text
from sqlalchemy.dialects import postgresql

revision: str = 'a5851ecc8848'
down_revision: str | None = '1ecb6798ce31'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('relink_policies',
    sa.Column('platform_id', sa.String(length=40), nullable=False),
    sa.Column('livemode', sa.Boolean(), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('delay_seconds', sa.Integer(), nullable=False),
    sa.Column('reminder_days', sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql'), nullable=False),
    sa.Column('expiry_reminder_days', sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql'), nullable=False),
    sa.Column('max_emails_per_account', sa.Integer(), nullable=False),
    sa.Column('updated_at', relink.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['platform_id'], ['platforms.id'], name=op.f('fk_relink_policies_platform_id_platforms'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('platform_id', 'livemode', name=op.f('pk_relink_policies'))
    )
    op.create_table('automatic_relinks',
    sa.Column('account_id', sa.String(length=40), nullable=False),
    sa.Column('eligible_since', relink.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('session_id', sa.String(length=40), nullable=True),
    sa.Column('requested_at', relink.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('emails', sa.Integer(), nullable=False),
    sa.Column('reminders_done', sa.Integer(), nullable=False),
    sa.Column('expiry_reminders_done', sa.Integer(), nullable=False),
    sa.Column('updated_at', relink.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('livemode', sa.Boolean(), nullable=False),
    sa.Column('platform_id', sa.String(length=40), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_automatic_relinks_account_id_accounts'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['platform_id'], ['platforms.id'], name=op.f('fk_automatic_relinks_platform_id_platforms'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['session_id'], ['sessions.id'], name=op.f('fk_automatic_relinks_session_id_sessions'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('account_id', name=op.f('pk_automatic_relinks'))
    )
    with op.batch_alter_table('automatic_relinks', schema=None) as batch_op:
        batch_op.create_index('ix_automatic_relinks_scope_account', ['platform_id', 'livemode', 'account_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('automatic_relinks', schema=None) as batch_op:
        batch_op.drop_index('ix_automatic_relinks_scope_account')

    op.drop_table('automatic_relinks')
    op.drop_table('relink_policies')
