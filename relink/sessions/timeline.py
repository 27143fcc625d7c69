"""The request timeline of a hosted relink session (spec 20-relink §6)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session as DbSession

from relink.kit import ids
from relink.models import SessionTimelineEntry, TimelineKind


def record(
    db: DbSession, session_id: str, kind: TimelineKind, at: dt.datetime, **detail: Any
) -> None:
    db.add(
        SessionTimelineEntry(
            id=ids.new("tl"), session_id=session_id, kind=kind, at=at, detail=detail
        )
    )


def entries(db: DbSession, session_id: str) -> list[SessionTimelineEntry]:
    return list(
        db.scalars(
            select(SessionTimelineEntry)
            .where(SessionTimelineEntry.session_id == session_id)
            .order_by(SessionTimelineEntry.at, SessionTimelineEntry.id)
        )
    )
