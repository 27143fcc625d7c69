"""Background jobs of bulk hosted relink requests (the dashboard's large selections)."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from relink.models.base import Base, TenantMixin, id_column


class BulkJobStatus(enum.StrEnum):
    queued = "queued"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"


class BulkRelinkJob(TenantMixin, Base):
    """One "Request relink" over many accounts, run in committed batches by the worker."""

    __tablename__ = "bulk_relink_jobs"

    id: Mapped[str] = id_column()
    status: Mapped[str] = mapped_column(String(10), default=BulkJobStatus.queued)
    # {"account_ids": [...]} or {"filter": AccountFilter.to_dict()}.
    selection: Mapped[dict[str, Any]]
    # Selected accounts, counted when the job starts.
    total: Mapped[int | None] = mapped_column(default=None)
    processed: Mapped[int] = mapped_column(default=0)
    created: Mapped[int] = mapped_column(default=0)
    # Reason code -> accounts skipped for it.
    skipped: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_by: Mapped[str] = mapped_column(String(60))
    # The form's submission key: a second submit returns the first job.
    dedupe_key: Mapped[str] = mapped_column(String(200))
    # The last account id processed (keyset cursor); a resumed job continues after it.
    cursor: Mapped[str | None] = mapped_column(String(40), default=None)
    # The worker running it, and until when (a crashed worker's job is taken over).
    locked_by: Mapped[str | None] = mapped_column(String(80), default=None)
    locked_until: Mapped[dt.datetime | None] = mapped_column(default=None)
    created_at: Mapped[dt.datetime]
    started_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    finished_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    error: Mapped[str | None] = mapped_column(Text, default=None)

    __table_args__ = (
        UniqueConstraint(
            "platform_id", "livemode", "dedupe_key", name="uq_bulk_relink_jobs_dedupe_key"
        ),
        Index("ix_bulk_relink_jobs_scope_id", "platform_id", "livemode", "id"),
    )
