"""Team users' dashboard preferences: the time zone times are shown in, the language.

Revision ID: f3c5e7a9b2d4
Revises: d7a3c5e9b1f4
Create Date: 2026-12-03 14:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "f3c5e7a9b2d4"
down_revision: str | None = "d7a3c5e9b1f4"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# Plain ALTER TABLE (not batch mode) on SQLite too: it adds and drops a column natively,
# and batch mode would reflect the tables that reference users.
def upgrade() -> None:
    op.add_column(
        "users",
        sa.Column("time_zone", sa.String(length=64), server_default="UTC", nullable=False),
    )
    op.add_column(
        "users",
        sa.Column("locale", sa.String(length=10), server_default="en", nullable=False),
    )


def downgrade() -> None:
    op.drop_column("users", "locale")
    op.drop_column("users", "time_zone")
