"""The outreach report's repair times per month, and a rebuilt rollup.

The rollup is derived data: its rows are dropped here, so the worker's scan recomputes
every day and month from the sessions (the report says how far it has got meanwhile).

Revision ID: 4e8b1c9d2f70
Revises: 7d3f2a91c4b5
Create Date: 2026-12-02 14:55:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy import Text
from sqlalchemy.dialects import postgresql

revision: str = "4e8b1c9d2f70"
down_revision: str | None = "7d3f2a91c4b5"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "outreach_months",
        sa.Column("platform_id", sa.String(length=40), nullable=False),
        sa.Column("livemode", sa.Boolean(), nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("institution_key", sa.String(length=40), nullable=False),
        sa.Column("reason_key", sa.String(length=30), nullable=False),
        sa.Column(
            "repair_seconds",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["platform_id"],
            ["platforms.id"],
            name=op.f("fk_outreach_months_platform_id_platforms"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "platform_id",
            "livemode",
            "month",
            "institution_key",
            "reason_key",
            name=op.f("pk_outreach_months"),
        ),
    )
    op.execute("DELETE FROM outreach_days")
    op.execute("DELETE FROM outreach_rollups")


def downgrade() -> None:
    op.drop_table("outreach_months")
