"""Account holders: customers and Connect connected accounts."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Index, String, func
from sqlalchemy.orm import Mapped, mapped_column

from relink.models.base import Base, TenantMixin, id_column


class Customer(TenantMixin, Base):
    __tablename__ = "customers"

    id: Mapped[str] = id_column()
    email: Mapped[str | None] = mapped_column(String(320), default=None)
    name: Mapped[str | None] = mapped_column(String(256), default=None)
    description: Mapped[str | None] = mapped_column(String(1000), default=None)
    preferred_locales: Mapped[list[str]] = mapped_column(default=list)
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", default=dict)
    deleted: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[dt.datetime]

    __table_args__ = (
        Index("ix_customers_scope_id", "platform_id", "livemode", "id"),
        Index("ix_customers_scope_email", "platform_id", "livemode", "email"),
        # Test-mode eligibility finds the holders who use a team member's address.
        Index("ix_customers_scope_lower_email", "platform_id", "livemode", func.lower(email)),
    )


class ConnectedAccount(TenantMixin, Base):
    __tablename__ = "connected_accounts"

    id: Mapped[str] = id_column()
    email: Mapped[str | None] = mapped_column(String(320), default=None)
    business_name: Mapped[str | None] = mapped_column(String(256), default=None)
    preferred_locales: Mapped[list[str]] = mapped_column(default=list)
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", default=dict)
    created_at: Mapped[dt.datetime]

    __table_args__ = (
        Index("ix_connected_accounts_scope_id", "platform_id", "livemode", "id"),
        Index(
            "ix_connected_accounts_scope_lower_email", "platform_id", "livemode", func.lower(email)
        ),
    )
