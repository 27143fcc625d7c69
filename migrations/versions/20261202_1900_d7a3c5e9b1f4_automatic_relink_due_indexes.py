"""The automatic relink scan's due episodes, one index per read in its own order.

The scan reads due requests (``requested_at IS NULL``) and due reminders (``IS NOT NULL``)
ordered by ``next_at`` then the account. The one index on ``next_at`` gave neither order
nor the split, and at a million accounts PostgreSQL sorted a third of them on disk for
each batch of 1,000.

Revision ID: d7a3c5e9b1f4
Revises: c4e1a7d2b9f0
Create Date: 2026-12-02 19:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "d7a3c5e9b1f4"
down_revision: str | None = "c4e1a7d2b9f0"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = ["platform_id", "livemode", "next_at", "account_id"]


def upgrade() -> None:
    with op.batch_alter_table("automatic_relinks", schema=None) as batch_op:
        batch_op.drop_index("ix_automatic_relinks_scope_next")
    for name, condition in (
        ("ix_automatic_relinks_scope_due_request", "requested_at IS NULL"),
        ("ix_automatic_relinks_scope_due_reminder", "requested_at IS NOT NULL"),
    ):
        op.create_index(
            name,
            "automatic_relinks",
            COLUMNS,
            unique=False,
            postgresql_where=sa.text(condition),
            sqlite_where=sa.text(condition),
        )


def downgrade() -> None:
    op.drop_index("ix_automatic_relinks_scope_due_reminder", table_name="automatic_relinks")
    op.drop_index("ix_automatic_relinks_scope_due_request", table_name="automatic_relinks")
    op.create_index(
        "ix_automatic_relinks_scope_next",
        "automatic_relinks",
        ["platform_id", "livemode", "next_at"],
        unique=False,
    )
