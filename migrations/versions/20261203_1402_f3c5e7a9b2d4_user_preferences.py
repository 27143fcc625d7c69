"""Team users' dashboard preferences (the time zone times are shown in, the language),
and the branding drafts behind the brand preview.

Revision ID: f3c5e7a9b2d4
Revises: a4d6f8b0c2e5
Create Date: 2026-12-03 14:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import relink.models.base

revision: str = "f3c5e7a9b2d4"
down_revision: str | None = "a4d6f8b0c2e5"
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


    op.create_table(
        "dashboard_branding_drafts",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("platform_id", sa.String(length=40), nullable=False),
        sa.Column("user_id", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("brand_color", sa.String(length=7), nullable=False),
        sa.Column("support_email", sa.String(length=320), nullable=False),
        sa.Column("website_url", sa.String(length=2048), nullable=False),
        sa.Column("email_sender_name", sa.String(length=200), nullable=False),
        sa.Column("default_locale", sa.String(length=10), nullable=False),
        sa.Column("hosted_relink_enabled", sa.Boolean(), nullable=False),
        sa.Column("logo_action", sa.String(length=10), nullable=False),
        sa.Column("logo_png", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", relink.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", relink.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["platform_id"],
            ["platforms.id"],
            name=op.f("fk_dashboard_branding_drafts_platform_id_platforms"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_dashboard_branding_drafts_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dashboard_branding_drafts")),
    )
    op.create_index(
        "ix_dashboard_branding_drafts_user",
        "dashboard_branding_drafts",
        ["platform_id", "user_id"],
    )


def downgrade() -> None:
    op.drop_index("ix_dashboard_branding_drafts_user", table_name="dashboard_branding_drafts")
    op.drop_table("dashboard_branding_drafts")
    op.drop_column("users", "locale")
    op.drop_column("users", "time_zone")
