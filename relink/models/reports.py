"""The outreach report's daily rollup: per scope, day of request, institution and reason,
what the hosted relink requests of that day reached (refreshed by a worker scan, so a
report over a million requests reads a few thousand rows, not the timeline)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Boolean, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from relink.models.base import Base


class OutreachDay(Base):
    __tablename__ = "outreach_days"

    platform_id: Mapped[str] = mapped_column(
        String(40), ForeignKey("platforms.id", ondelete="CASCADE"), primary_key=True
    )
    livemode: Mapped[bool] = mapped_column(Boolean, primary_key=True)
    day: Mapped[dt.date] = mapped_column(primary_key=True)
    # "" when the request has no institution (or no reason) recorded.
    institution_key: Mapped[str] = mapped_column(String(40), primary_key=True)
    reason_key: Mapped[str] = mapped_column(String(30), primary_key=True)
    # Requests of the group, and those repaired (status succeeded).
    requested: Mapped[int]
    repaired: Mapped[int]
    # Requests that reached each funnel step (timeline kind -> count).
    steps: Mapped[dict[str, Any]]
    # Emails sent to holders (first emails and reminders), and accounts repaired.
    emails: Mapped[int]
    repaired_accounts: Mapped[int]
    # Seconds from request to repair -> how many (see relink.sessions.rollup.Durations).
    repair_seconds: Mapped[dict[str, Any]]


class OutreachMonth(Base):
    """Repair times per month, institution and reason: the daily rows' merged, so a report
    over a year merges a dozen rows per group instead of hundreds (refreshed with them)."""

    __tablename__ = "outreach_months"

    platform_id: Mapped[str] = mapped_column(
        String(40), ForeignKey("platforms.id", ondelete="CASCADE"), primary_key=True
    )
    livemode: Mapped[bool] = mapped_column(Boolean, primary_key=True)
    # The month's first day.
    month: Mapped[dt.date] = mapped_column(primary_key=True)
    institution_key: Mapped[str] = mapped_column(String(40), primary_key=True)
    reason_key: Mapped[str] = mapped_column(String(30), primary_key=True)
    # Seconds from request to repair -> how many (see relink.sessions.rollup.Durations).
    repair_seconds: Mapped[dict[str, Any]]


class OutreachRollup(Base):
    """When a scope's rollup was last refreshed, and from which day it covers its requests."""

    __tablename__ = "outreach_rollups"

    platform_id: Mapped[str] = mapped_column(
        String(40), ForeignKey("platforms.id", ondelete="CASCADE"), primary_key=True
    )
    livemode: Mapped[bool] = mapped_column(Boolean, primary_key=True)
    refreshed_at: Mapped[dt.datetime]
    covered_from: Mapped[dt.date]
