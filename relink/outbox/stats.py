"""Outbox depth and age, for ``/metrics`` and the dashboard."""

from __future__ import annotations

from sqlalchemy import func, select

from relink.kit import clock
from relink.models import OutboxMessage, OutboxStatus
from relink.runtime import Runtime


def outbox_stats(runtime: Runtime) -> list[tuple[str, str, int, float]]:
    """(kind, status, rows, age of the oldest pending row in seconds) for pending and dead rows."""
    now = clock.now()
    with runtime.database.read_only() as session:
        rows = session.execute(
            select(
                OutboxMessage.kind,
                OutboxMessage.status,
                func.count(),
                func.min(OutboxMessage.created_at),
            )
            .where(OutboxMessage.status.in_([OutboxStatus.pending, OutboxStatus.dead]))
            .group_by(OutboxMessage.kind, OutboxMessage.status)
        ).all()
    # min() reads back as the column's type: an aware UTC datetime on either engine.
    return [
        (str(kind), str(status), int(count), max(0.0, (now - oldest).total_seconds()))
        for kind, status, count, oldest in rows
    ]
