"""Data refreshed from banks: owners (ownership refreshes), transactions and the daily
balances inferred from them."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from relink.models.base import Base, TenantMixin, id_column


class AccountOwner(TenantMixin, Base):
    __tablename__ = "account_owners"

    id: Mapped[str] = id_column()
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    ownership_id: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(500))
    email: Mapped[str | None] = mapped_column(String(320), default=None)
    phone: Mapped[str | None] = mapped_column(String(50), default=None)
    raw_address: Mapped[str | None] = mapped_column(String(1000), default=None)
    refreshed_at: Mapped[dt.datetime]

    __table_args__ = (Index("ix_account_owners_ownership", "ownership_id", "id"),)


class AccountTransaction(TenantMixin, Base):
    __tablename__ = "account_transactions"

    id: Mapped[str] = id_column()
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    bank_transaction_id: Mapped[str] = mapped_column(String(200))
    amount: Mapped[int]
    currency: Mapped[str] = mapped_column(String(3))
    description: Mapped[str] = mapped_column(String(1000))
    status: Mapped[str] = mapped_column(String(10))
    transacted_at: Mapped[dt.datetime]
    posted_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    void_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    transaction_refresh_id: Mapped[str] = mapped_column(String(40))
    updated_at: Mapped[dt.datetime]

    __table_args__ = (
        UniqueConstraint(
            "account_id", "bank_transaction_id", name="uq_account_transactions_bank_id"
        ),
        Index("ix_account_transactions_account", "account_id", "id"),
    )


class AccountInferredBalance(TenantMixin, Base):
    """One end-of-day balance of an account (``financial_connections.account_inferred_balance``);
    an inferred-balances refresh replaces the account's rows, at most one per day."""

    __tablename__ = "account_inferred_balances"

    id: Mapped[str] = id_column()
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    as_of: Mapped[dt.datetime]
    current: Mapped[dict[str, Any]]

    __table_args__ = (Index("ix_account_inferred_balances_account", "account_id", "id"),)
