"""platform default api version

Revision ID: 5b0c1e7d2a94
Revises: f893515ff214
Create Date: 2026-12-01 18:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "5b0c1e7d2a94"
down_revision: str | None = "f893515ff214"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# What platforms created before this column were answered at by default.
EARLIER_DEFAULT = "2025-10-29.preview"


def upgrade() -> None:
    with op.batch_alter_table("platforms") as batch:
        batch.add_column(
            sa.Column(
                "default_api_version",
                sa.String(length=40),
                nullable=False,
                server_default=EARLIER_DEFAULT,
            )
        )
    with op.batch_alter_table("platforms") as batch:
        batch.alter_column("default_api_version", server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("platforms") as batch:
        batch.drop_column("default_api_version")
