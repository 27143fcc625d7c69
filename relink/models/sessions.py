"""Financial Connections sessions (link and relink) and the relink request timeline."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from relink.models.base import Base, TenantMixin, id_column

# The ``created_by`` of the sessions the automatic relink scan makes (and the timeline's
# ``by`` of what it does): its emails are automatic, the others an operator's or the API's.
AUTOMATION = "automation"


class SessionStatus(enum.StrEnum):
    pending = "pending"
    succeeded = "succeeded"
    failed = "failed"
    cancelled = "cancelled"


class RelinkBundle(TenantMixin, Base):
    """One email for several relink sessions of one holder (a bulk request's batch found
    more than one eligible account of theirs): one link opens a page listing them all."""

    __tablename__ = "relink_bundles"

    id: Mapped[str] = id_column()
    holder_type: Mapped[str] = mapped_column(String(10))
    customer_id: Mapped[str | None] = mapped_column(ForeignKey("customers.id"), default=None)
    connected_account_id: Mapped[str | None] = mapped_column(
        ForeignKey("connected_accounts.id"), default=None
    )
    # SHA-256 of the bundle page's token (derived from the id with a server key, as a
    # session's link token is).
    link_token_digest: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime]

    __table_args__ = (Index("ix_relink_bundles_scope_id", "platform_id", "livemode", "id"),)


class Session(TenantMixin, Base):
    __tablename__ = "sessions"

    id: Mapped[str] = id_column()
    holder_type: Mapped[str] = mapped_column(String(10))
    customer_id: Mapped[str | None] = mapped_column(ForeignKey("customers.id"), default=None)
    connected_account_id: Mapped[str | None] = mapped_column(
        ForeignKey("connected_accounts.id"), default=None
    )
    # SHA-256 of the client secret (Runtime.client_secret derives the secret itself).
    client_secret_digest: Mapped[str] = mapped_column(String(64))
    permissions: Mapped[list[str]] = mapped_column(default=list)
    prefetch: Mapped[list[str]] = mapped_column(default=list)
    filters: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    limits: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    return_url: Mapped[str | None] = mapped_column(String(2000), default=None)
    ui_mode: Mapped[str] = mapped_column(String(10), default="modal")
    delivery_method: Mapped[str | None] = mapped_column(String(10), default=None)
    hosted_return_url: Mapped[str | None] = mapped_column(String(2000), default=None)
    relink_authorization_id: Mapped[str | None] = mapped_column(
        ForeignKey("authorizations.id"), default=None
    )
    relink_account_id: Mapped[str | None] = mapped_column(ForeignKey("accounts.id"), default=None)
    status: Mapped[str] = mapped_column(String(10), default=SessionStatus.pending)
    cancelled_reason: Mapped[str | None] = mapped_column(String(30), default=None)
    result_authorization_id: Mapped[str | None] = mapped_column(String(40), default=None)
    result_account_id: Mapped[str | None] = mapped_column(String(40), default=None)
    failure_reason: Mapped[str | None] = mapped_column(String(20), default=None)
    # Accounts collected (link) or repaired (relink) by this session, for `accounts`.
    collected_account_ids: Mapped[list[str]] = mapped_column(default=list)
    # Hosted link: the token is derived from the session id with a server key, so
    # only its digest is stored and the URL can still be shown while pending.
    link_token_digest: Mapped[str | None] = mapped_column(String(64), unique=True, default=None)
    link_last_visit_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    # Who asked: "user:<id>", "api_key:<id>", "automation".
    created_by: Mapped[str | None] = mapped_column(String(60), default=None)
    # Hosted relink: why the account needed it when asked (relink.eligibility.relink_reason).
    relink_reason: Mapped[str | None] = mapped_column(String(30), default=None)
    locale: Mapped[str | None] = mapped_column(String(10), default=None)
    # The bundle whose one email and page carry this session's link (None: its own email).
    bundle_id: Mapped[str | None] = mapped_column(ForeignKey("relink_bundles.id"), default=None)
    created_at: Mapped[dt.datetime]
    updated_at: Mapped[dt.datetime]
    finished_at: Mapped[dt.datetime | None] = mapped_column(default=None)

    __table_args__ = (
        Index("ix_sessions_scope_id", "platform_id", "livemode", "id"),
        Index("ix_sessions_bundle", "bundle_id"),
        Index("ix_sessions_relink_account", "relink_account_id", "created_at"),
        Index("ix_sessions_relink_authorization", "relink_authorization_id"),
        Index("ix_sessions_scope_created", "platform_id", "livemode", "created_at"),
        # One pending hosted session per account, enforced by the database.
        Index(
            "uq_sessions_pending_hosted_account",
            "relink_account_id",
            unique=True,
            postgresql_where=text("status = 'pending' AND ui_mode = 'hosted'"),
            sqlite_where=text("status = 'pending' AND ui_mode = 'hosted'"),
        ),
    )


class TimelineKind(enum.StrEnum):
    created = "created"
    email_queued = "email_queued"
    email_sent = "email_sent"
    email_failed = "email_failed"
    # The receiving side refused the email for good (a bounce or a 5xx), with its reason.
    email_bounced = "email_bounced"
    # The email waits for the bank to be healthy again (not an attempt, not a failure).
    email_waiting = "email_waiting"
    # The link's page was seen by a person; ``scanned``: fetched by a machine (a mail
    # scanner, a prefetch, a link preview), which the funnel does not count as a person.
    viewed = "viewed"
    scanned = "scanned"
    opened = "opened"
    authenticated = "authenticated"
    succeeded = "succeeded"
    failed = "failed"
    cancelled = "cancelled"
    expired = "expired"
    # A reminder of a pending request, with the same link (automatic relink).
    reminder_sent = "reminder_sent"
    # After a succeeded relink: the worker's first refresh of a repaired account.
    data_refreshed = "data_refreshed"
    refresh_failed = "refresh_failed"
    # The holder met "your bank is unavailable"; later, the one "your bank is back" email.
    bank_unavailable = "bank_unavailable"
    bank_back_sent = "bank_back_sent"


class SessionTimelineEntry(Base):
    __tablename__ = "session_timeline"

    id: Mapped[str] = id_column()
    session_id: Mapped[str] = mapped_column(ForeignKey("sessions.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(20))
    at: Mapped[dt.datetime]
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)

    __table_args__ = (Index("ix_session_timeline_session", "session_id", "at"),)
