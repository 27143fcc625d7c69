"""Sessions record why the account needed a relink (the outreach report's "by reason"),
and are found by creation time within a scope.

Revision ID: 41634df00919
Revises: a5851ecc8848
Create Date: 2026-12-02 06:36:43.330988
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op



revision: str = '41634df00919'
down_revision: str | None = 'a5851ecc8848'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# Plain ALTER TABLE (not batch mode) on SQLite too: it adds a column and drops one
# natively, and batch mode would reflect the tables the sessions reference.
def upgrade() -> None:
    op.add_column('sessions', sa.Column('relink_reason', sa.String(length=30), nullable=True))
    op.create_index(
        'ix_sessions_scope_created', 'sessions', ['platform_id', 'livemode', 'created_at']
    )


def downgrade() -> None:
    op.drop_index('ix_sessions_scope_created', table_name='sessions')
    op.drop_column('sessions', 'relink_reason')
