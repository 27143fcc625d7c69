"""Relink bundles: one email and one page for several sessions of one holder.

Revision ID: c4e8b2d7a913
Revises: 3e8b5c0d7a16
Create Date: 2026-12-02 15:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import relink.models.base


revision: str = 'c4e8b2d7a913'
down_revision: str | None = '3e8b5c0d7a16'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('relink_bundles',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('holder_type', sa.String(length=10), nullable=False),
    sa.Column('customer_id', sa.String(length=40), nullable=True),
    sa.Column('connected_account_id', sa.String(length=40), nullable=True),
    sa.Column('link_token_digest', sa.String(length=64), nullable=False),
    sa.Column('created_at', relink.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('livemode', sa.Boolean(), nullable=False),
    sa.Column('platform_id', sa.String(length=40), nullable=False),
    sa.ForeignKeyConstraint(['connected_account_id'], ['connected_accounts.id'], name=op.f('fk_relink_bundles_connected_account_id_connected_accounts')),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_relink_bundles_customer_id_customers')),
    sa.ForeignKeyConstraint(['platform_id'], ['platforms.id'], name=op.f('fk_relink_bundles_platform_id_platforms'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_relink_bundles')),
    sa.UniqueConstraint('link_token_digest', name=op.f('uq_relink_bundles_link_token_digest'))
    )
    with op.batch_alter_table('relink_bundles', schema=None) as batch_op:
        batch_op.create_index('ix_relink_bundles_scope_id', ['platform_id', 'livemode', 'id'], unique=False)

    # Not batch mode on SQLite: copying ``sessions`` would reflect every table that
    # references it. SQLite's own ALTER TABLE adds a nullable column with its REFERENCES
    # clause inline; PostgreSQL adds the constraint after the column.
    if op.get_bind().dialect.name == 'sqlite':
        op.execute(
            'ALTER TABLE sessions ADD COLUMN bundle_id VARCHAR(40) '
            'CONSTRAINT fk_sessions_bundle_id_relink_bundles REFERENCES relink_bundles (id)'
        )
    else:
        op.add_column('sessions', sa.Column('bundle_id', sa.String(length=40), nullable=True))
        op.create_foreign_key(op.f('fk_sessions_bundle_id_relink_bundles'), 'sessions', 'relink_bundles', ['bundle_id'], ['id'])
    op.create_index('ix_sessions_bundle', 'sessions', ['bundle_id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_sessions_bundle', table_name='sessions')
    if op.get_bind().dialect.name != 'sqlite':
        op.drop_constraint(op.f('fk_sessions_bundle_id_relink_bundles'), 'sessions', type_='foreignkey')
    op.drop_column('sessions', 'bundle_id')

    with op.batch_alter_table('relink_bundles', schema=None) as batch_op:
        batch_op.drop_index('ix_relink_bundles_scope_id')

    op.drop_table('relink_bundles')
