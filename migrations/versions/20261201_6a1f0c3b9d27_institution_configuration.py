"""institution configuration: bic, settings, sealed secrets, disabled_at, updated_at

Revision ID: 6a1f0c3b9d27
Revises: 3023a3d92d19
Create Date: 2026-12-01 21:50:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "6a1f0c3b9d27"
down_revision: str | None = "3023a3d92d19"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("institutions") as batch:
        batch.add_column(sa.Column("bic", sa.String(length=11), nullable=True))
        batch.add_column(sa.Column("settings", JSON, nullable=False, server_default="{}"))
        batch.add_column(sa.Column("secrets_sealed", sa.LargeBinary(), nullable=True))
        batch.add_column(sa.Column("disabled_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("institutions") as batch:
        batch.alter_column("settings", server_default=None)
    # Sandbox institutions were built from their key alone; their settings say it now.
    institutions = sa.table(
        "institutions",
        sa.column("id", sa.String()),
        sa.column("connector", sa.String()),
        sa.column("connector_key", sa.String()),
        sa.column("settings", JSON),
    )
    connection = op.get_bind()
    rows = connection.execute(
        sa.select(institutions.c.id, institutions.c.connector_key).where(
            institutions.c.connector == "sandbox"
        )
    ).all()
    for row in rows:
        connection.execute(
            institutions.update()
            .where(institutions.c.id == row.id)
            .values(settings={"base_url": "{sandbox_bank_url}", "institution": row.connector_key})
        )


def downgrade() -> None:
    with op.batch_alter_table("institutions") as batch:
        batch.drop_column("updated_at")
        batch.drop_column("disabled_at")
        batch.drop_column("secrets_sealed")
        batch.drop_column("settings")
        batch.drop_column("bic")
