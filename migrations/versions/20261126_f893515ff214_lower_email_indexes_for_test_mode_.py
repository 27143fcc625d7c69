"""lower email indexes for test mode eligibility

Revision ID: f893515ff214
Revises: d400d5f135a6
Create Date: 2026-11-26 07:18:01.654990
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import relink.models.base
from sqlalchemy import Text  # noqa: F401
from sqlalchemy.dialects import postgresql  # noqa: F401


revision: str = 'f893515ff214'
down_revision: str | None = 'd400d5f135a6'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Expression indexes: autogenerate does not see them, so they are written by hand.
    op.create_index(
        "ix_customers_scope_lower_email",
        "customers",
        ["platform_id", "livemode", sa.text("lower(email)")],
    )
    op.create_index(
        "ix_connected_accounts_scope_lower_email",
        "connected_accounts",
        ["platform_id", "livemode", sa.text("lower(email)")],
    )


def downgrade() -> None:
    op.drop_index("ix_connected_accounts_scope_lower_email", table_name="connected_accounts")
    op.drop_index("ix_customers_scope_lower_email", table_name="customers")
