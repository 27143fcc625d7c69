"""The Accounts list sorts by TAN / consent expiry and by the last relink request, and
keeps each team user's selection across pages.

``accounts.last_relink_request_at`` is the creation time of the account's newest hosted
relink request (filled here from the sessions); two indexes give both sorted orders,
scoped, with the id as the tie-breaker of the keyset pages.

Revision ID: e2b4d6f8a1c3
Revises: d7a3c5e9b1f4
Create Date: 2026-12-03 14:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import relink.models.base

revision: str = "e2b4d6f8a1c3"
down_revision: str | None = "d7a3c5e9b1f4"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "dashboard_selected_accounts",
        sa.Column("user_id", sa.String(length=40), nullable=False),
        sa.Column("account_id", sa.String(length=40), nullable=False),
        sa.Column("selected_at", relink.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("platform_id", sa.String(length=40), nullable=False),
        sa.Column("livemode", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_dashboard_selected_accounts_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["platform_id"],
            ["platforms.id"],
            name=op.f("fk_dashboard_selected_accounts_platform_id_platforms"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_dashboard_selected_accounts_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "user_id", "account_id", name=op.f("pk_dashboard_selected_accounts")
        ),
    )
    op.create_index(
        "ix_dashboard_selected_accounts_user",
        "dashboard_selected_accounts",
        ["user_id", "platform_id", "livemode"],
        unique=False,
    )
    # Plain ALTER TABLE on SQLite too (it adds and drops a column natively): batch mode
    # would reflect every table the accounts reference.
    op.add_column(
        "accounts",
        sa.Column(
            "last_relink_request_at", relink.models.base.UTCDateTime(timezone=True), nullable=True
        ),
    )
    op.execute(
        "UPDATE accounts SET last_relink_request_at = ("
        " SELECT max(sessions.created_at) FROM sessions"
        " WHERE sessions.relink_account_id = accounts.id"
        " AND sessions.delivery_method IS NOT NULL)"
    )
    op.create_index(
        "ix_accounts_scope_relink_due_order",
        "accounts",
        ["platform_id", "livemode", "relink_due_at", "id"],
        unique=False,
    )
    op.create_index(
        "ix_accounts_scope_last_request_order",
        "accounts",
        ["platform_id", "livemode", "last_relink_request_at", "id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_dashboard_selected_accounts_user", table_name="dashboard_selected_accounts")
    op.drop_table("dashboard_selected_accounts")
    op.drop_index("ix_accounts_scope_last_request_order", table_name="accounts")
    op.drop_index("ix_accounts_scope_relink_due_order", table_name="accounts")
    op.drop_column("accounts", "last_relink_request_at")
