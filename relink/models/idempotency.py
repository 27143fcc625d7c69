"""Stored results of POST requests made with an ``Idempotency-Key``."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from relink.models.base import Base


class IdempotencyRecord(Base):
    __tablename__ = "idempotency_records"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    platform_id: Mapped[str] = mapped_column(ForeignKey("platforms.id", ondelete="CASCADE"))
    livemode: Mapped[bool]
    key: Mapped[str] = mapped_column(String(255))
    # SHA-256 of method, path and decoded parameters.
    request_digest: Mapped[str] = mapped_column(String(64))
    # Null while the first request runs.
    response_status: Mapped[int | None] = mapped_column(default=None)
    # The answer for replay, encrypted (Runtime.replay_box): it may carry secrets.
    response_body: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[dt.datetime]
    # While in flight, the record is considered abandoned after this (crashed process).
    locked_until: Mapped[dt.datetime | None] = mapped_column(default=None)

    __table_args__ = (
        UniqueConstraint("platform_id", "livemode", "key", name="uq_idempotency_scope_key"),
        Index("ix_idempotency_records_created", "created_at"),
    )
