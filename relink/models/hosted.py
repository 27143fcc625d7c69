"""Server-side state of a holder's hosted relink flow (one row per session that started it).

Secrets of an authentication in progress (the PKCE verifier, a bank challenge's
continuation) never reach the browser: they are sealed here with the grant key.
"""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import ForeignKey, Index, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from relink.models.base import Base, TenantMixin, id_column


class FlowStep(enum.StrEnum):
    landing = "landing"  # nothing in progress: Continue starts (again)
    oauth = "oauth"  # sent to the bank's authorize page; waiting for the callback
    credentials = "credentials"  # showing the username/password form
    challenge = "challenge"  # the bank asked a question; the challenge is sealed here
    account_needed = "account_needed"  # authenticated, but the required account was not shared
    unavailable = "unavailable"  # the bank was down; try again later
    # Link sessions only: after authenticating, the holder picks accounts, then consents.
    accounts = "accounts"  # choosing among the shared accounts (sealed with the grant)
    consent = "consent"  # the chosen accounts wait for "Link accounts"
    # Decoupled SCA: the holder approves in the bank's app while a page here waits.
    waiting = "waiting"


class HostedFlow(TenantMixin, Base):
    __tablename__ = "hosted_flows"

    session_id: Mapped[str] = mapped_column(
        ForeignKey("sessions.id", ondelete="CASCADE"), primary_key=True
    )
    step: Mapped[str] = mapped_column(String(20), default=FlowStep.landing)
    # Link sessions: the institution the holder picked (or filters[institution]).
    institution_id: Mapped[str | None] = mapped_column(ForeignKey("institutions.id"), default=None)
    # SHA-256 of the OAuth `state` sent to the bank; the callback finds the flow by it.
    oauth_state_digest: Mapped[str | None] = mapped_column(String(64), unique=True, default=None)
    # Sealed JSON: {"code_verifier"} while at the bank, {"challenge", "username"} on a
    # challenge; link sessions: {"grant", "bank_user", "shared", "chosen"} once authenticated.
    sealed: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    # Refused usernames/passwords and challenge answers (at most MAX_CREDENTIAL_FAILURES).
    credential_failures: Mapped[int] = mapped_column(default=0)
    opened_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    # Set once the holder authenticated at the bank in this session (giving up after it
    # is `no_account`, before it `no_authorization`).
    authenticated_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    # A change the holder asked for on one screen and confirms on the next ("cancel",
    # "new_link"), and when: the confirmation form's one-time token is bound to it.
    confirming: Mapped[str | None] = mapped_column(String(20), default=None)
    confirm_asked_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    created_at: Mapped[dt.datetime]
    updated_at: Mapped[dt.datetime]


class LinkVisit(TenantMixin, Base):
    """A visit of a link within minutes of its email's delivery, by a digest of the
    client address: many links of one platform opened from one address within seconds
    of delivery are a mail scanner, not people (``relink.hosted.traffic``). Only such
    fresh visits are kept; the rows say nothing once the burst window has passed."""

    __tablename__ = "link_visits"

    id: Mapped[str] = id_column()
    session_id: Mapped[str] = mapped_column(ForeignKey("sessions.id", ondelete="CASCADE"))
    # HMAC of the client address under a server key: comparable, not readable.
    client_digest: Mapped[str] = mapped_column(String(64))
    at: Mapped[dt.datetime]

    __table_args__ = (
        Index("ix_link_visits_client", "platform_id", "livemode", "client_digest", "at"),
        Index("ix_link_visits_session", "session_id"),
    )


class InstitutionWait(TenantMixin, Base):
    """A holder met "your bank is unavailable" on a pending session that Relink emailed:
    once the bank is healthy again they get one email saying so ("your bank is back")."""

    __tablename__ = "institution_waits"

    session_id: Mapped[str] = mapped_column(
        ForeignKey("sessions.id", ondelete="CASCADE"), primary_key=True
    )
    institution_id: Mapped[str] = mapped_column(ForeignKey("institutions.id"))
    met_at: Mapped[dt.datetime]
    # When the "your bank is back" email went out (None: not yet); it goes out once.
    notified_at: Mapped[dt.datetime | None] = mapped_column(default=None)

    __table_args__ = (Index("ix_institution_waits_institution", "institution_id", "notified_at"),)
