"""Emails: the built-in mailbox backend's messages and each session's delivery state."""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import ForeignKey, Index, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from relink.models.base import Base, TenantMixin, id_column


class MailboxMessage(TenantMixin, Base):
    """An email "sent" by the mailbox backend (the embedded default), readable in the dashboard.

    ``message_id`` is unique: a replayed send of the same message is a no-op.
    """

    __tablename__ = "mailbox_messages"

    id: Mapped[str] = id_column()
    # No foreign key: the record of what was sent outlives the session it was about.
    session_id: Mapped[str | None] = mapped_column(String(40), default=None)
    # An email about a team user's own account (an invitation, a password reset): shown
    # only to that user, never to the rest of the team.
    user_id: Mapped[str | None] = mapped_column(String(40), default=None)
    to: Mapped[str] = mapped_column("to_address", String(320))
    sender: Mapped[str] = mapped_column(String(400))
    subject: Mapped[str] = mapped_column(String(1000))
    text: Mapped[str] = mapped_column(Text)
    html: Mapped[str] = mapped_column(Text)
    message_id: Mapped[str] = mapped_column(String(250), unique=True)
    created_at: Mapped[dt.datetime]

    __table_args__ = (
        Index("ix_mailbox_messages_scope_id", "platform_id", "livemode", "id"),
        Index("ix_mailbox_messages_session", "session_id"),
    )


class DeliveryState(enum.StrEnum):
    queued = "queued"
    sent = "sent"
    failed = "failed"
    # The session was no longer pending when the worker came to send its email.
    skipped = "skipped"
    # Refused for good by the receiving side: a 5xx at send time, or a bounce later.
    bounced = "bounced"
    # Held back while the account's bank is down or degraded; sent once it is back.
    waiting = "waiting"


# An email that will not be sent again by itself (the operator may send it again).
GIVEN_UP = (DeliveryState.failed, DeliveryState.bounced)


class EmailDelivery(TenantMixin, Base):
    """Where a session's email stands, for the dashboard (no row yet: ``queued``)."""

    __tablename__ = "email_deliveries"

    session_id: Mapped[str] = mapped_column(
        ForeignKey("sessions.id", ondelete="CASCADE"), primary_key=True
    )
    state: Mapped[str] = mapped_column(String(10), default=DeliveryState.queued)
    attempts: Mapped[int] = mapped_column(default=0)
    backend: Mapped[str | None] = mapped_column(String(20), default=None)
    message_id: Mapped[str | None] = mapped_column(String(250), default=None)
    # The last SMTP reply (or connection error) of a failed attempt.
    last_reply: Mapped[str | None] = mapped_column(Text, default=None)
    last_attempt_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    sent_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    updated_at: Mapped[dt.datetime]

    __table_args__ = (Index("ix_email_deliveries_scope_state", "platform_id", "livemode", "state"),)


class DkimKey(Base):
    """The DKIM signing key of one sender domain (instance-wide: every platform sends
    from the configured sender address). The private key is sealed at rest."""

    __tablename__ = "dkim_keys"

    domain: Mapped[str] = mapped_column(String(253), primary_key=True)
    selector: Mapped[str] = mapped_column(String(63))
    private_key_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    # The base64 DER public key: the ``p=`` of the DNS TXT record.
    public_key: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime]


class BounceToken(TenantMixin, Base):
    """The VERP token of one sent message (its envelope sender is
    ``bounces+<token>@<bounce domain>``), stored as a digest. A bounce is believed only
    when it comes back to such an address, and only about the address it was sent to."""

    __tablename__ = "bounce_tokens"

    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    # No foreign key: the record of what was sent outlives the session it was about.
    session_id: Mapped[str | None] = mapped_column(String(40), default=None)
    recipient: Mapped[str] = mapped_column(String(320))
    message_id: Mapped[str] = mapped_column(String(250))
    created_at: Mapped[dt.datetime]


class BounceReport(Base):
    """A report (bounce or complaint) that was acted on, by the SHA-256 of its bytes: the
    same report read twice (an IMAP message whose Seen flag was not set before a crash,
    two pollers of one mailbox, an SMTP client that sends again) is acted on once. Only
    reports naming a token of a sent message are kept; others change nothing anyway."""

    __tablename__ = "bounce_reports"

    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    outcome: Mapped[str] = mapped_column(String(20))
    received_at: Mapped[dt.datetime]


class SuppressionReason(enum.StrEnum):
    # A permanent failure: a 5xx reply at send time, or a bounce saying so.
    bounced = "bounced"
    # The recipient reported the email as abuse (RFC 5965 feedback report).
    complained = "complained"
    # Transient failures repeated over days: suppressed for a while, then tried again.
    deferred = "deferred"


class EmailSuppression(TenantMixin, Base):
    """An address Relink does not email in one platform and mode (the suppression list).

    One row per address, kept after it is lifted (the history the holder page shows).
    It suppresses while ``suppressed_at`` is set, ``lifted_at`` is not, and ``until`` (if
    any) is in the future; a row with only transient failures counted suppresses nothing.
    """

    __tablename__ = "email_suppressions"

    id: Mapped[str] = id_column()
    # Lower case.
    address: Mapped[str] = mapped_column(String(320))
    reason: Mapped[str | None] = mapped_column(String(20), default=None)
    diagnostic: Mapped[str | None] = mapped_column(Text, default=None)
    session_id: Mapped[str | None] = mapped_column(String(40), default=None)
    suppressed_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    until: Mapped[dt.datetime | None] = mapped_column(default=None)
    lifted_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    lifted_by: Mapped[str | None] = mapped_column(String(320), default=None)
    # The current run of transient failures (reset when it suppresses or goes stale).
    transient_failures: Mapped[int] = mapped_column(default=0)
    first_transient_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    updated_at: Mapped[dt.datetime]

    __table_args__ = (
        Index(
            "ix_email_suppressions_scope_address",
            "platform_id",
            "livemode",
            "address",
            unique=True,
        ),
    )


class OptOutSource(enum.StrEnum):
    # The receiver's unsubscribe button (RFC 8058 one-click POST to List-Unsubscribe).
    one_click = "one_click"
    # The holder confirmed on Relink's page (from an email's footer or the landing page).
    hosted_page = "hosted_page"


class ReminderOptOut(TenantMixin, Base):
    """A holder (a customer or a connected account) who asked for no more reminders, in
    one platform and mode: the automation sends them nothing more (docs/outreach.md).

    One row per holder, kept after an operator clears it (``cleared_at``): it opts the
    holder out while ``cleared_at`` is not set.
    """

    __tablename__ = "reminder_opt_outs"

    id: Mapped[str] = id_column()
    # ``cus_…`` or ``acct_…`` (no foreign key: either table's).
    holder_id: Mapped[str] = mapped_column(String(40))
    source: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[dt.datetime]
    cleared_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    cleared_by: Mapped[str | None] = mapped_column(String(320), default=None)

    __table_args__ = (
        Index(
            "ix_reminder_opt_outs_scope_holder",
            "platform_id",
            "livemode",
            "holder_id",
            unique=True,
        ),
    )
