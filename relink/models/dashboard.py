"""Operator dashboard: login sessions, sign-in attempts (throttling), email confirmations."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from relink.models.base import Base, TenantMixin, id_column


class DashboardLogin(Base):
    """One signed-in browser. The cookie holds a random token; only its digest is stored."""

    __tablename__ = "dashboard_logins"

    id: Mapped[str] = id_column()
    token_digest: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    platform_id: Mapped[str] = mapped_column(ForeignKey("platforms.id", ondelete="CASCADE"))
    # The mode the dashboard currently shows (the Test/Live switch).
    livemode: Mapped[bool]
    created_at: Mapped[dt.datetime]
    last_seen_at: Mapped[dt.datetime]
    expires_at: Mapped[dt.datetime]
    ended_at: Mapped[dt.datetime | None] = mapped_column(default=None)

    __table_args__ = (Index("ix_dashboard_logins_user", "user_id"),)


class LoginAttempt(Base):
    """A sign-in attempt, counted per email address and per client address to throttle.

    Written (and committed) before the password is checked, so parallel attempts all
    see each other; it stays as the failure when the check fails."""

    __tablename__ = "dashboard_login_attempts"

    id: Mapped[str] = id_column()
    # SHA-256 of the normalized email typed (known or not), so no address is kept in clear.
    email_digest: Mapped[str] = mapped_column(String(64))
    client: Mapped[str] = mapped_column(String(64))
    at: Mapped[dt.datetime]

    __table_args__ = (
        Index("ix_dashboard_login_attempts_email", "email_digest", "at"),
        Index("ix_dashboard_login_attempts_client", "client", "at"),
    )


class EmailConfirmation(Base):
    """A link that confirms a team user's email address (and, for an invitation, sets
    the first password). Only the token's digest is stored."""

    __tablename__ = "dashboard_email_confirmations"

    id: Mapped[str] = id_column()
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    token_digest: Mapped[str] = mapped_column(String(64), unique=True)
    # An invitation: the invited user has no password yet and chooses one on confirming.
    invitation: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[dt.datetime]
    expires_at: Mapped[dt.datetime]
    used_at: Mapped[dt.datetime | None] = mapped_column(default=None)

    __table_args__ = (Index("ix_dashboard_email_confirmations_user", "user_id"),)


class PasswordReset(Base):
    """A link that lets a team user choose a new password, sent to their address.

    Single-use and short-lived; only the token's digest is stored (the token itself is
    derived from the row's id with a server-held key when the email is sent)."""

    __tablename__ = "dashboard_password_resets"

    id: Mapped[str] = id_column()
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    token_digest: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime]
    expires_at: Mapped[dt.datetime]
    used_at: Mapped[dt.datetime | None] = mapped_column(default=None)

    __table_args__ = (Index("ix_dashboard_password_resets_user", "user_id", "created_at"),)


class SelectedAccount(TenantMixin, Base):
    """An account a team user ticked on the Accounts list, kept across pages until they
    request a relink for the selection or clear it (one row per user, mode and account)."""

    __tablename__ = "dashboard_selected_accounts"

    user_id: Mapped[str] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    account_id: Mapped[str] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True
    )
    selected_at: Mapped[dt.datetime]

    __table_args__ = (
        Index("ix_dashboard_selected_accounts_user", "user_id", "platform_id", "livemode"),
    )


class BrandingDraft(Base):
    """Branding an owner or admin is trying out, kept for its preview page until saved.

    Kept on the server (not in the browser) so the preview works without JavaScript and
    a logo of up to 256 KB fits; one per user, replaced by their next preview."""

    __tablename__ = "dashboard_branding_drafts"

    id: Mapped[str] = id_column()
    platform_id: Mapped[str] = mapped_column(ForeignKey("platforms.id", ondelete="CASCADE"))
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    brand_color: Mapped[str] = mapped_column(String(7))
    support_email: Mapped[str] = mapped_column(String(320))
    website_url: Mapped[str] = mapped_column(String(2048), default="")
    email_sender_name: Mapped[str] = mapped_column(String(200))
    default_locale: Mapped[str] = mapped_column(String(10))
    hosted_relink_enabled: Mapped[bool]
    # "keep" (the platform's logo at the time it is shown), "replace" (logo_png), "remove".
    logo_action: Mapped[str] = mapped_column(String(10))
    logo_png: Mapped[bytes | None] = mapped_column(default=None)
    created_at: Mapped[dt.datetime]
    expires_at: Mapped[dt.datetime]

    __table_args__ = (Index("ix_dashboard_branding_drafts_user", "platform_id", "user_id"),)
