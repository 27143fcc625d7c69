"""Incidents at a bank, and when each account last broke (incident detection counts it).

Revision ID: 6465c1c66acf
Revises: 9be41b30422b
Create Date: 2026-12-02 10:07:55.980261
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import relink.models.base


revision: str = '6465c1c66acf'
down_revision: str | None = '9be41b30422b'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('incidents',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('institution_id', sa.String(length=40), nullable=False),
    sa.Column('opened_at', relink.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('window_started_at', relink.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('affected_count', sa.Integer(), nullable=False),
    sa.Column('accounts_count', sa.Integer(), nullable=False),
    sa.Column('released_at', relink.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('released_by', sa.String(length=320), nullable=True),
    sa.Column('livemode', sa.Boolean(), nullable=False),
    sa.Column('platform_id', sa.String(length=40), nullable=False),
    sa.ForeignKeyConstraint(['institution_id'], ['institutions.id'], name=op.f('fk_incidents_institution_id_institutions')),
    sa.ForeignKeyConstraint(['platform_id'], ['platforms.id'], name=op.f('fk_incidents_platform_id_platforms'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_incidents'))
    )
    with op.batch_alter_table('incidents', schema=None) as batch_op:
        batch_op.create_index('ix_incidents_scope_opened', ['platform_id', 'livemode', 'opened_at'], unique=False)
        batch_op.create_index('ux_incidents_open', ['platform_id', 'livemode', 'institution_id'], unique=True, postgresql_where=sa.text('released_at IS NULL'), sqlite_where=sa.text('released_at IS NULL'))

    # Plain ALTER TABLE on SQLite too (it adds and drops a column natively): batch mode
    # would reflect every table the accounts reference.
    op.add_column('accounts', sa.Column('deactivated_at', relink.models.base.UTCDateTime(timezone=True), nullable=True))
    op.create_index('ix_accounts_scope_deactivated', 'accounts', ['platform_id', 'livemode', 'deactivated_at'], unique=False, postgresql_where=sa.text('deactivated_at IS NOT NULL'), sqlite_where=sa.text('deactivated_at IS NOT NULL'))



def downgrade() -> None:
    op.drop_index('ix_accounts_scope_deactivated', table_name='accounts')
    op.drop_column('accounts', 'deactivated_at')

    with op.batch_alter_table('incidents', schema=None) as batch_op:
        batch_op.drop_index('ux_incidents_open', postgresql_where=sa.text('released_at IS NULL'), sqlite_where=sa.text('released_at IS NULL'))
        batch_op.drop_index('ix_incidents_scope_opened')

    op.drop_table('incidents')
