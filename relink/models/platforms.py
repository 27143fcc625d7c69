"""Platforms (businesses using Relink), their team users and API keys."""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import Boolean, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from relink.kit.api_versions import LATEST_API_VERSION
from relink.models.base import Base, id_column


class Role(enum.StrEnum):
    owner = "owner"
    admin = "admin"
    viewer = "viewer"


class Platform(Base):
    __tablename__ = "platforms"

    id: Mapped[str] = id_column()
    name: Mapped[str] = mapped_column(String(200))
    brand_color: Mapped[str] = mapped_column(String(7), default="#3a5bd9")
    logo_png: Mapped[bytes | None] = mapped_column(default=None)
    logo_content_type: Mapped[str | None] = mapped_column(String(40), default=None)
    support_email: Mapped[str | None] = mapped_column(String(320), default=None)
    # The platform's website (an http(s) URL), shown to holders beside the support email.
    website_url: Mapped[str | None] = mapped_column(String(2048), default=None)
    email_sender_name: Mapped[str | None] = mapped_column(String(200), default=None)
    default_locale: Mapped[str] = mapped_column(String(10), default="en")
    hosted_relink_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    # Seconds added to the clock in test mode (POST /v1/test_helpers/clock/advance).
    test_clock_offset_seconds: Mapped[int] = mapped_column(default=0)
    # The Stripe API version events are rendered at (webhook endpoints without an
    # api_version of their own, /v1/events) and API requests without Stripe-Version are
    # answered at: the build's newest when the platform is created, kept across upgrades.
    default_api_version: Mapped[str] = mapped_column(String(40), default=LATEST_API_VERSION)
    created_at: Mapped[dt.datetime]


class User(Base):
    __tablename__ = "users"

    id: Mapped[str] = id_column()
    platform_id: Mapped[str] = mapped_column(ForeignKey("platforms.id", ondelete="CASCADE"))
    email: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(10))
    email_confirmed_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    last_livemode: Mapped[bool | None] = mapped_column(default=None)
    # How the dashboard shows times to this user: an IANA zone name (``Europe/Berlin``).
    time_zone: Mapped[str] = mapped_column(String(64), default="UTC", server_default="UTC")
    # The dashboard's language for this user (English or German).
    locale: Mapped[str] = mapped_column(String(10), default="en", server_default="en")
    created_at: Mapped[dt.datetime]

    __table_args__ = (Index("ix_users_platform_email", "platform_id", "email"),)


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[str] = id_column()
    platform_id: Mapped[str] = mapped_column(ForeignKey("platforms.id", ondelete="CASCADE"))
    livemode: Mapped[bool]
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    # Shown in listings: "sk_test_…" plus the last four characters.
    redacted: Mapped[str] = mapped_column(String(40))
    name: Mapped[str | None] = mapped_column(String(200), default=None)
    created_at: Mapped[dt.datetime]
    expires_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(default=None)
