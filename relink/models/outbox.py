"""The durable outbox: side effects written in the same transaction as the state change."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from relink.models.base import Base, id_column


class OutboxStatus(enum.StrEnum):
    pending = "pending"
    done = "done"
    dead = "dead"


class OutboxMessage(Base):
    __tablename__ = "outbox"

    id: Mapped[str] = id_column()
    kind: Mapped[str] = mapped_column(String(60))
    payload: Mapped[dict[str, Any]]
    # A second enqueue with the same key is a no-op: every side effect happens once per intent.
    dedupe_key: Mapped[str] = mapped_column(String(200), unique=True)
    platform_id: Mapped[str | None] = mapped_column(String(40), default=None)
    livemode: Mapped[bool | None] = mapped_column(default=None)
    status: Mapped[str] = mapped_column(String(10), default=OutboxStatus.pending)
    attempts: Mapped[int] = mapped_column(default=0)
    run_after: Mapped[dt.datetime]
    locked_until: Mapped[dt.datetime | None] = mapped_column(default=None)
    locked_by: Mapped[str | None] = mapped_column(String(80), default=None)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[dt.datetime]
    finished_at: Mapped[dt.datetime | None] = mapped_column(default=None)

    __table_args__ = (
        Index(
            "ix_outbox_due",
            "run_after",
            postgresql_where=text("status = 'pending'"),
            sqlite_where=text("status = 'pending'"),
        ),
    )


class ScheduledScan(Base):
    """When each periodic scan last ran and next runs; claimed with a lease by one worker."""

    __tablename__ = "scheduled_scans"

    name: Mapped[str] = mapped_column(String(60), primary_key=True)
    next_run_at: Mapped[dt.datetime]
    locked_until: Mapped[dt.datetime | None] = mapped_column(default=None)
    locked_by: Mapped[str | None] = mapped_column(String(80), default=None)
    last_finished_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)
