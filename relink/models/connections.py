"""Institutions, authorizations, accounts and their account numbers (TANs)."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import ForeignKey, Index, LargeBinary, String, text
from sqlalchemy.orm import Mapped, mapped_column

from relink.models.base import Base, TenantMixin, id_column


class ConnectionStatus(enum.StrEnum):
    active = "active"
    inactive = "inactive"
    disconnected = "disconnected"


class InactiveCause(enum.StrEnum):
    access_denied = "access_denied"
    access_expired = "access_expired"
    account_closed = "account_closed"
    account_unavailable = "account_unavailable"
    institution_requirement = "institution_requirement"
    unspecified = "unspecified"


class RelinkAction(enum.StrEnum):
    none = "none"
    relink_required = "relink_required"


class TanStatus(enum.StrEnum):
    pending = "pending"
    transactable = "transactable"
    expired = "expired"
    deactivated = "deactivated"


class HolderType(enum.StrEnum):
    customer = "customer"
    account = "account"


class InstitutionHealth(enum.StrEnum):
    active = "active"
    degraded = "degraded"
    inactive = "inactive"


class Institution(Base):
    """A bank served by a connector. Global (not per platform); one mode each.

    Sandbox institutions come from the built-in catalog; live ones are configured by the
    operator (``relink institutions``). ``settings`` are the connector's plain settings;
    its secrets (client secrets, the mutual-TLS certificate and key) are sealed apart.
    """

    __tablename__ = "institutions"

    id: Mapped[str] = id_column()
    livemode: Mapped[bool]
    connector: Mapped[str] = mapped_column(String(40))
    # The catalog's key of the institution (the sandbox bank's key for sandbox ones).
    connector_key: Mapped[str] = mapped_column(String(80))
    name: Mapped[str] = mapped_column(String(200))
    bic: Mapped[str | None] = mapped_column(String(11), default=None)
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # JSON of the secrets, encrypted like grants (a key derived from RELINK_SECRET_KEY).
    secrets_sealed: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    # A disabled institution is offered to nobody and no connector is built for it.
    disabled_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    url: Mapped[str | None] = mapped_column(String(500), default=None)
    countries: Mapped[list[str]] = mapped_column(default=list)
    routing_numbers: Mapped[list[str]] = mapped_column(default=list)
    features: Mapped[dict[str, Any]] = mapped_column(default=dict)
    auth_kind: Mapped[str] = mapped_column(String(20), default="oauth")
    supports_relink: Mapped[bool] = mapped_column(default=True)
    health: Mapped[str] = mapped_column(String(10), default=InstitutionHealth.active)
    health_checked_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    # When the institution entered its current health (None: never changed since added).
    health_since: Mapped[dt.datetime | None] = mapped_column(default=None)
    created_at: Mapped[dt.datetime]
    updated_at: Mapped[dt.datetime | None] = mapped_column(default=None)

    def record_health(self, health: InstitutionHealth | str, at: dt.datetime) -> None:
        """A health answer (a check, or a connector call's outcome): ``health_since`` moves
        only when the health changes."""
        if self.health != health:
            self.health = InstitutionHealth(health)
            self.health_since = at
        self.health_checked_at = at


class Authorization(TenantMixin, Base):
    """One consent/login at one institution, covering one or more accounts."""

    __tablename__ = "authorizations"

    id: Mapped[str] = id_column()
    institution_id: Mapped[str] = mapped_column(ForeignKey("institutions.id"))
    holder_type: Mapped[str] = mapped_column(String(10))
    customer_id: Mapped[str | None] = mapped_column(ForeignKey("customers.id"), default=None)
    connected_account_id: Mapped[str | None] = mapped_column(
        ForeignKey("connected_accounts.id"), default=None
    )
    status: Mapped[str] = mapped_column(String(15), default=ConnectionStatus.active)
    inactive_action: Mapped[str | None] = mapped_column(String(20), default=None)
    inactive_cause: Mapped[str | None] = mapped_column(String(30), default=None)
    expected_deactivation_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    expected_deactivation_cause: Mapped[str | None] = mapped_column(String(30), default=None)
    # The expected deactivation date an "upcoming deactivation" event was emitted for.
    deactivation_warned_for: Mapped[dt.datetime | None] = mapped_column(default=None)
    # Connector secrets (tokens), encrypted with a key derived from RELINK_SECRET_KEY.
    grant_sealed: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    # The bank-side user the grant belongs to (sandbox username, OAuth subject).
    bank_user: Mapped[str | None] = mapped_column(String(200), default=None)
    authenticated_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    created_at: Mapped[dt.datetime]
    updated_at: Mapped[dt.datetime]

    __table_args__ = (Index("ix_authorizations_scope_id", "platform_id", "livemode", "id"),)


class ConsentKind(enum.StrEnum):
    """What happened to an authorization's consent."""

    granted = "granted"
    renewed = "renewed"
    revoked = "revoked"


class ConsentActor(enum.StrEnum):
    """Who made it happen: the holder (hosted pages), an operator (the dashboard), the
    platform (the API), the bank (it ended the consent) or Relink's automation."""

    holder = "holder"
    operator = "operator"
    platform = "platform"
    bank = "bank"
    automation = "automation"


class ConsentEvent(TenantMixin, Base):
    """One entry of an authorization's consent history, never changed once written:
    what the holder agreed to share and until when, or that the consent ended."""

    __tablename__ = "consent_events"

    id: Mapped[str] = id_column()
    authorization_id: Mapped[str] = mapped_column(
        ForeignKey("authorizations.id", ondelete="CASCADE")
    )
    kind: Mapped[str] = mapped_column(String(10))
    actor: Mapped[str] = mapped_column(String(12))
    # The permissions, accounts and valid-until of a grant; the session or request behind it.
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)
    at: Mapped[dt.datetime]

    __table_args__ = (Index("ix_consent_events_authorization", "authorization_id", "at"),)


class Account(TenantMixin, Base):
    """One bank account shared through an authorization (``fca_``)."""

    __tablename__ = "accounts"

    id: Mapped[str] = id_column()
    authorization_id: Mapped[str] = mapped_column(ForeignKey("authorizations.id"))
    institution_id: Mapped[str] = mapped_column(ForeignKey("institutions.id"))
    holder_type: Mapped[str] = mapped_column(String(10))
    customer_id: Mapped[str | None] = mapped_column(ForeignKey("customers.id"), default=None)
    connected_account_id: Mapped[str | None] = mapped_column(
        ForeignKey("connected_accounts.id"), default=None
    )
    session_id: Mapped[str | None] = mapped_column(String(40), default=None)
    # The connector's stable id of the bank account; relink matches accounts by it.
    bank_account_id: Mapped[str] = mapped_column(String(200))
    display_name: Mapped[str | None] = mapped_column(String(200), default=None)
    last4: Mapped[str | None] = mapped_column(String(4), default=None)
    category: Mapped[str] = mapped_column(String(20), default="cash")
    subcategory: Mapped[str] = mapped_column(String(20), default="checking")
    status: Mapped[str] = mapped_column(String(15), default=ConnectionStatus.active)
    inactive_action: Mapped[str | None] = mapped_column(String(20), default=None)
    inactive_cause: Mapped[str | None] = mapped_column(String(30), default=None)
    expected_deactivation_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    expected_deactivation_cause: Mapped[str | None] = mapped_column(String(30), default=None)
    # When the account last became inactive (incident detection counts recent breaks).
    deactivated_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    deactivation_warned_for: Mapped[dt.datetime | None] = mapped_column(default=None)
    permissions: Mapped[list[str]] = mapped_column(default=list)
    subscriptions: Mapped[list[str]] = mapped_column(default=list)
    # When the daily refresh of subscribed features is next due (None: no subscriptions).
    next_subscription_refresh_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    supported_payment_method_types: Mapped[list[str]] = mapped_column(default=list)
    balance: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    balance_refresh: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    ownership_id: Mapped[str | None] = mapped_column(String(40), default=None)
    ownership_refresh: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    transaction_refresh: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    inferred_balances_refresh: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    # When the account becomes "broken or about to break" for hosted relink
    # (eligibility rule 1); derived by relink.eligibility.rules.relink_due_at.
    relink_due_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    # When the newest hosted relink request (a session with a delivery method) for this
    # account was created; written with the session, so the Accounts list can sort by it.
    last_relink_request_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    created_at: Mapped[dt.datetime]
    updated_at: Mapped[dt.datetime]

    __table_args__ = (
        Index("ix_accounts_scope_id", "platform_id", "livemode", "id"),
        # The Accounts list's sorted orders, read in keyset pages (docs/decisions.md).
        Index(
            "ix_accounts_scope_relink_due_order", "platform_id", "livemode", "relink_due_at", "id"
        ),
        Index(
            "ix_accounts_scope_last_request_order",
            "platform_id",
            "livemode",
            "last_relink_request_at",
            "id",
        ),
        Index("ix_accounts_authorization", "authorization_id"),
        Index("ix_accounts_customer", "customer_id"),
        Index("ix_accounts_connected_account", "connected_account_id"),
        Index(
            "ix_accounts_subscription_refresh",
            "next_subscription_refresh_at",
            postgresql_where=text("next_subscription_refresh_at IS NOT NULL"),
            sqlite_where=text("next_subscription_refresh_at IS NOT NULL"),
        ),
        Index(
            "ix_accounts_expected_deactivation",
            "expected_deactivation_at",
            postgresql_where=text("expected_deactivation_at IS NOT NULL"),
            sqlite_where=text("expected_deactivation_at IS NOT NULL"),
        ),
        Index(
            "ix_accounts_scope_deactivated",
            "platform_id",
            "livemode",
            "deactivated_at",
            postgresql_where=text("deactivated_at IS NOT NULL"),
            sqlite_where=text("deactivated_at IS NOT NULL"),
        ),
        Index(
            "ix_accounts_scope_relink_due",
            "platform_id",
            "livemode",
            "id",
            postgresql_where=text("relink_due_at IS NOT NULL"),
            sqlite_where=text("relink_due_at IS NOT NULL"),
        ),
    )


class AccountNumber(TenantMixin, Base):
    """A payment-network number of an account; tokenized numbers (TANs) expire."""

    __tablename__ = "account_numbers"

    id: Mapped[str] = id_column()
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    identifier_type: Mapped[str] = mapped_column(String(30), default="tokenized_account_number")
    status: Mapped[str] = mapped_column(String(15), default=TanStatus.transactable)
    expected_expiry_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    supported_networks: Mapped[list[str]] = mapped_column(default=lambda: ["ach"])
    routing_number: Mapped[str | None] = mapped_column(String(20), default=None)
    number_last4: Mapped[str | None] = mapped_column(String(4), default=None)
    # The expiry date an "upcoming expiry" event was already emitted for (once per date).
    expiry_warned_for: Mapped[dt.datetime | None] = mapped_column(default=None)
    created_at: Mapped[dt.datetime]

    __table_args__ = (
        Index("ix_account_numbers_account", "account_id"),
        Index("ix_account_numbers_expiry", "status", "expected_expiry_at"),
    )
