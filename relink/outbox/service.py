"""Writing outbox rows. Rows are written in the caller's transaction and never commit here."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy.orm import Session

from relink.kit import clock, ids
from relink.kit.sql import insert_or_ignore
from relink.models import OutboxMessage, OutboxStatus


def enqueue(
    session: Session,
    kind: str,
    payload: dict[str, Any],
    *,
    dedupe_key: str,
    platform_id: str | None = None,
    livemode: bool | None = None,
    run_after: dt.datetime | None = None,
) -> None:
    """Add a side effect to the outbox; a row with the same ``dedupe_key`` makes this a no-op."""
    now = clock.now()
    enqueue_many(
        session,
        [
            {
                "id": ids.new("obx"),
                "kind": kind,
                "payload": payload,
                "dedupe_key": dedupe_key,
                "platform_id": platform_id,
                "livemode": livemode,
                "status": OutboxStatus.pending,
                "attempts": 0,
                "run_after": run_after or now,
                "created_at": now,
            }
        ],
    )


def enqueue_many(session: Session, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    session.execute(insert_or_ignore(session, OutboxMessage, index_elements=["dedupe_key"]), rows)
