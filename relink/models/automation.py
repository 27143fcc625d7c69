"""Automatic relink: each platform's policy per mode, and the automation's state per account."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from relink.models.base import Base, TenantMixin

# A policy row that does not exist reads as these defaults (and off).
DEFAULT_DELAY_SECONDS = 4 * 3600
DEFAULT_REMINDER_DAYS = (3, 7)
DEFAULT_EXPIRY_REMINDER_DAYS = (14, 7, 1)
# The first email and every reminder of the default schedule (1 + 2 + 3).
DEFAULT_MAX_EMAILS_PER_ACCOUNT = 6


class RelinkPolicy(Base):
    """A platform's automatic relink policy in one mode (no row: the defaults, off)."""

    __tablename__ = "relink_policies"

    platform_id: Mapped[str] = mapped_column(
        String(40), ForeignKey("platforms.id", ondelete="CASCADE"), primary_key=True
    )
    livemode: Mapped[bool] = mapped_column(primary_key=True)
    enabled: Mapped[bool] = mapped_column(default=False)
    delay_seconds: Mapped[int] = mapped_column(default=DEFAULT_DELAY_SECONDS)
    # Days after the first email, and days before a TAN or consent expiry (JSON lists).
    reminder_days: Mapped[list[int]] = mapped_column(default=lambda: list(DEFAULT_REMINDER_DAYS))
    expiry_reminder_days: Mapped[list[int]] = mapped_column(
        default=lambda: list(DEFAULT_EXPIRY_REMINDER_DAYS)
    )
    max_emails_per_account: Mapped[int] = mapped_column(default=DEFAULT_MAX_EMAILS_PER_ACCOUNT)
    updated_at: Mapped[dt.datetime]


class AutomaticRelink(TenantMixin, Base):
    """The automation's state of one account, from the moment it is seen eligible until
    it is repaired (or no longer repairable): the row is the episode the email cap counts."""

    __tablename__ = "automatic_relinks"

    account_id: Mapped[str] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True
    )
    # When the scan first saw the account eligible (scope time): the delay runs from here.
    eligible_since: Mapped[dt.datetime]
    # The session the automation created (its link is what reminders send again).
    session_id: Mapped[str | None] = mapped_column(
        ForeignKey("sessions.id", ondelete="SET NULL"), default=None
    )
    requested_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    # Emails of this episode: the request's and each reminder.
    emails: Mapped[int] = mapped_column(default=0)
    # How many of the policy's reminder days (after the first email) and expiry reminder
    # days (before the expiry) are behind: a reminder is due when more have passed.
    reminders_done: Mapped[int] = mapped_column(default=0)
    expiry_reminders_done: Mapped[int] = mapped_column(default=0)
    # When the scan next has something to do for the episode (scope time): the request
    # after the delay, then the next reminder; NULL when nothing more is planned (the
    # cap is reached, or the request is no longer pending). The scan reads only due rows.
    next_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    updated_at: Mapped[dt.datetime]

    __table_args__ = (
        Index("ix_automatic_relinks_scope_account", "platform_id", "livemode", "account_id"),
        # The scan's two reads of due episodes, each in its own order (next_at, then the
        # account as the tie-break): the requests still to make, and the reminders.
        Index(
            "ix_automatic_relinks_scope_due_request",
            "platform_id",
            "livemode",
            "next_at",
            "account_id",
            postgresql_where=text("requested_at IS NULL"),
            sqlite_where=text("requested_at IS NULL"),
        ),
        Index(
            "ix_automatic_relinks_scope_due_reminder",
            "platform_id",
            "livemode",
            "next_at",
            "account_id",
            postgresql_where=text("requested_at IS NOT NULL"),
            sqlite_where=text("requested_at IS NOT NULL"),
        ),
    )
