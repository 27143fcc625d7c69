"""sessions keep only a digest of their client secret

Revision ID: d4e8a1f27c53
Revises: cb28a0c4581f
Create Date: 2026-12-01 22:55:00
"""

import hashlib
import warnings
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = 'd4e8a1f27c53'
down_revision: str | None = 'cb28a0c4581f'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BATCH = 5000


def upgrade() -> None:
    op.add_column('sessions', sa.Column('client_secret_digest', sa.String(length=64), nullable=True))
    bind = op.get_bind()
    if bind.dialect.name == 'postgresql':
        bind.execute(sa.text(
            "UPDATE sessions SET client_secret_digest = "
            "encode(sha256(convert_to(client_secret, 'UTF8')), 'hex')"
        ))
    else:
        # SQLite has no SHA-256: digest in batches here (the secrets already issued keep
        # opening their sessions' /link/ pages).
        sessions = sa.table(
            'sessions', sa.column('id'), sa.column('client_secret'), sa.column('client_secret_digest')
        )
        while True:
            rows = bind.execute(
                sa.select(sessions.c.id, sessions.c.client_secret)
                .where(sessions.c.client_secret_digest.is_(None))
                .limit(_BATCH)
            ).all()
            if not rows:
                break
            bind.execute(
                sessions.update()
                .where(sessions.c.id == sa.bindparam('row_id'))
                .values(client_secret_digest=sa.bindparam('digest')),
                [
                    {'row_id': row.id, 'digest': hashlib.sha256(row.client_secret.encode()).hexdigest()}
                    for row in rows
                ],
            )
    # On SQLite the batch copy of sessions reflects the tables it refers to, and SQLAlchemy
    # warns that it skips connected_accounts' expression index: that index is not copied
    # (only sessions is), so the warning says nothing about this table.
    with warnings.catch_warnings():
        warnings.filterwarnings('ignore', 'Skipped unsupported reflection', sa.exc.SAWarning)
        with op.batch_alter_table('sessions', schema=None) as batch_op:
            batch_op.alter_column('client_secret_digest', nullable=False)
            batch_op.drop_column('client_secret')


def downgrade() -> None:
    # The secrets themselves are gone: a downgraded session cannot be opened at /link/.
    # Not in batch mode (see upgrade); SQLite (3.35+) drops a column in place.
    op.add_column('sessions', sa.Column('client_secret', sa.String(length=120), nullable=False, server_default=''))
    op.drop_column('sessions', 'client_secret_digest')
