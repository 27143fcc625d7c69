"""Incidents: an unusual share of one institution's accounts broke within a short window.

An open incident (``released_at`` is null) holds automatic outreach for its institution
in its platform's mode until an operator releases it; at most one is open per
institution and scope (a partial unique index, so two workers cannot open two).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from relink.models.base import Base, TenantMixin, id_column


class Incident(TenantMixin, Base):
    __tablename__ = "incidents"

    id: Mapped[str] = id_column()
    institution_id: Mapped[str] = mapped_column(ForeignKey("institutions.id"))
    opened_at: Mapped[dt.datetime]
    # The breaks counted are those since here (the window before the incident opened).
    window_started_at: Mapped[dt.datetime]
    # Accounts broken since the window started and still broken, as of the last scan.
    affected_count: Mapped[int]
    # The institution's accounts of the scope (active or broken in the window) when opened.
    accounts_count: Mapped[int]
    released_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    released_by: Mapped[str | None] = mapped_column(String(320), default=None)

    __table_args__ = (
        Index(
            "ux_incidents_open",
            "platform_id",
            "livemode",
            "institution_id",
            unique=True,
            postgresql_where=text("released_at IS NULL"),
            sqlite_where=text("released_at IS NULL"),
        ),
        Index("ix_incidents_scope_opened", "platform_id", "livemode", "opened_at"),
    )
