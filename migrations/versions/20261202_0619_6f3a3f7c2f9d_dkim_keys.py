"""DKIM signing keys, one per sender domain, the private key sealed.

Revision ID: 6f3a3f7c2f9d
Revises: 41634df00919
Create Date: 2026-12-02 06:19:06.053270
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import relink.models.base


revision: str = '6f3a3f7c2f9d'
down_revision: str | None = '41634df00919'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('dkim_keys',
    sa.Column('domain', sa.String(length=253), nullable=False),
    sa.Column('selector', sa.String(length=63), nullable=False),
    sa.Column('private_key_sealed', sa.LargeBinary(), nullable=False),
    sa.Column('public_key', sa.Text(), nullable=False),
    sa.Column('created_at', relink.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('domain', name=op.f('pk_dkim_keys'))
    )


def downgrade() -> None:
    op.drop_table('dkim_keys')
