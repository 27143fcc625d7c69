"""Events and webhook endpoints."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import Index, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from relink.models.base import Base, TenantMixin, id_column


class EventType(enum.StrEnum):
    """Every event type Relink emits (an endpoint subscribes to some, or to all with ``*``)."""

    account_created = "financial_connections.account.created"
    account_deactivated = "financial_connections.account.deactivated"
    account_disconnected = "financial_connections.account.disconnected"
    account_reactivated = "financial_connections.account.reactivated"
    account_refreshed_balance = "financial_connections.account.refreshed_balance"
    account_refreshed_ownership = "financial_connections.account.refreshed_ownership"
    account_refreshed_transactions = "financial_connections.account.refreshed_transactions"
    account_refreshed_inferred_balances = (
        "financial_connections.account.refreshed_inferred_balances"
    )
    account_account_numbers_updated = "financial_connections.account.account_numbers_updated"
    account_upcoming_account_number_expiry = (
        "financial_connections.account.upcoming_account_number_expiry"
    )
    account_expected_deactivation_date_updated = (
        "financial_connections.account.expected_deactivation_date_updated"
    )
    account_upcoming_deactivation = "financial_connections.account.upcoming_deactivation"
    authorization_expected_deactivation_date_updated = (
        "financial_connections.authorization.expected_deactivation_date_updated"
    )
    authorization_upcoming_deactivation = (
        "financial_connections.authorization.upcoming_deactivation"
    )
    session_updated = "financial_connections.session.updated"


class EndpointStatus(enum.StrEnum):
    """A webhook endpoint's ``status``: only an enabled endpoint is sent events. The
    platform disables and enables it; Relink disables one that kept failing."""

    enabled = "enabled"
    disabled = "disabled"


class Event(TenantMixin, Base):
    __tablename__ = "events"

    id: Mapped[str] = id_column()
    type: Mapped[str] = mapped_column(String(100))
    api_version: Mapped[str] = mapped_column(String(40))
    object_id: Mapped[str] = mapped_column(String(40))
    data_object: Mapped[dict[str, Any]]
    previous_attributes: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    request_id: Mapped[str | None] = mapped_column(String(40), default=None)
    idempotency_key: Mapped[str | None] = mapped_column(String(255), default=None)
    created_at: Mapped[dt.datetime]

    __table_args__ = (
        Index("ix_events_scope_id", "platform_id", "livemode", "id"),
        Index("ix_events_scope_type", "platform_id", "livemode", "type", "id"),
        Index("ix_events_object", "object_id"),
    )


class WebhookEndpoint(TenantMixin, Base):
    __tablename__ = "webhook_endpoints"

    id: Mapped[str] = id_column()
    url: Mapped[str] = mapped_column(String(2048))
    description: Mapped[str | None] = mapped_column(String(5000), default=None)
    enabled_events: Mapped[list[str]] = mapped_column(default=list)
    api_version: Mapped[str | None] = mapped_column(String(40), default=None)
    status: Mapped[str] = mapped_column(String(10), default=EndpointStatus.enabled)
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", default=dict)
    # The signing secret is needed to sign, so it is encrypted rather than hashed.
    secret_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    previous_secret_sealed: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    previous_secret_expires_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    failing_since: Mapped[dt.datetime | None] = mapped_column(default=None)
    deleted: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[dt.datetime]

    __table_args__ = (Index("ix_webhook_endpoints_scope_id", "platform_id", "livemode", "id"),)


class WebhookAttempt(Base):
    """One delivery attempt of one event to one endpoint (kept for the dashboard)."""

    __tablename__ = "webhook_attempts"

    id: Mapped[str] = id_column()
    platform_id: Mapped[str] = mapped_column(String(40))
    livemode: Mapped[bool]
    endpoint_id: Mapped[str] = mapped_column(String(40))
    event_id: Mapped[str] = mapped_column(String(40))
    attempted_at: Mapped[dt.datetime]
    status_code: Mapped[int | None] = mapped_column(default=None)
    latency_ms: Mapped[int | None] = mapped_column(default=None)
    response_excerpt: Mapped[str | None] = mapped_column(String(1000), default=None)
    error: Mapped[str | None] = mapped_column(String(1000), default=None)
    succeeded: Mapped[bool] = mapped_column(default=False)

    __table_args__ = (
        Index("ix_webhook_attempts_endpoint", "endpoint_id", "attempted_at"),
        Index("ix_webhook_attempts_event", "event_id"),
    )
