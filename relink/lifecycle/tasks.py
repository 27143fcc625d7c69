"""Running the lifecycle scans from the worker, one worker at a time per interval."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import structlog
from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from relink.kit import clock
from relink.kit.metrics import SCANS
from relink.kit.provenance import EventContext
from relink.kit.sql import insert_or_ignore
from relink.lifecycle.scans import (
    SCAN_EVERY,
    ScanResult,
    ScopeScan,
    run_scope_scans,
)
from relink.lifecycle.scopes import all_scopes
from relink.models import ScheduledScan
from relink.runtime import Runtime

log = structlog.get_logger("relink.scans")

LIFECYCLE_SCAN = "lifecycle"
LEASE = dt.timedelta(minutes=5)


def _ensure_row(session: Session, name: str) -> None:
    values = {"name": name, "next_run_at": clock.now()}
    session.execute(
        insert_or_ignore(session, ScheduledScan, index_elements=["name"]).values(**values)
    )


def claim_scan(session: Session, name: str, worker_id: str) -> bool:
    """Take the scan's lease if it is due and nobody holds it."""
    now = clock.now()
    _ensure_row(session, name)
    taken = session.execute(
        update(ScheduledScan)
        .where(
            ScheduledScan.name == name,
            ScheduledScan.next_run_at <= now,
            or_(ScheduledScan.locked_until.is_(None), ScheduledScan.locked_until < now),
        )
        .values(locked_until=now + LEASE, locked_by=worker_id)
    )
    return bool(taken.rowcount)  # type: ignore[attr-defined]


def run_lifecycle_scans(
    runtime: Runtime, worker_id: str, scans: Sequence[ScopeScan]
) -> ScanResult | None:
    database = runtime.database
    with database.unit_of_work() as session:
        if not claim_scan(session, LIFECYCLE_SCAN, worker_id):
            return None
        scopes = all_scopes(session)
    SCANS.labels(LIFECYCLE_SCAN).inc()
    context = EventContext()
    total = ScanResult()
    error = None
    for scope in scopes:
        try:
            with database.unit_of_work() as session:
                total += run_scope_scans(session, scope, context, scans)
        except Exception as failure:  # one scope's failure must not stop the others
            error = f"{scope.platform_id}/{scope.mode}: {failure}"
            log.exception("scans.scope_failed", platform=scope.platform_id, mode=scope.mode)
    with database.unit_of_work() as session:
        row = session.scalars(
            select(ScheduledScan).where(ScheduledScan.name == LIFECYCLE_SCAN)
        ).one()
        now = clock.now()
        row.next_run_at = now + SCAN_EVERY
        row.last_finished_at = now
        row.locked_until = None
        row.last_error = error
    return total


INSTITUTION_HEALTH_SCAN = "institution_health"
HEALTH_EVERY = dt.timedelta(minutes=5)


def check_institution_health(runtime: Runtime, worker_id: str) -> int | None:
    """Ask each institution's connector how it is (every few minutes, one worker at a time)."""
    from relink.institutions.connectors import ConnectorUnavailable, connector_for
    from relink.models import Institution
    from relink.tenancy import Scope

    database = runtime.database
    with database.unit_of_work() as session:
        if not claim_scan(session, INSTITUTION_HEALTH_SCAN, worker_id):
            return None
        institutions = list(session.scalars(select(Institution)))
    SCANS.labels(INSTITUTION_HEALTH_SCAN).inc()
    answers: dict[str, str] = {}
    for institution in institutions:
        try:
            connector = connector_for(runtime, institution, Scope("", institution.livemode))
        except ConnectorUnavailable:
            continue
        try:
            answers[institution.id] = connector.health().value
        except Exception:  # a health probe must never stop the worker
            log.exception("scans.health_failed", institution=institution.id)
    with database.unit_of_work() as session:
        now = clock.now()
        for institution in session.scalars(select(Institution).where(Institution.id.in_(answers))):
            institution.record_health(answers[institution.id], now)
        row = session.scalars(
            select(ScheduledScan).where(ScheduledScan.name == INSTITUTION_HEALTH_SCAN)
        ).one()
        row.next_run_at = now + HEALTH_EVERY
        row.last_finished_at = now
        row.locked_until = None
    return len(answers)
