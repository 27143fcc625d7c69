"""Running the lifecycle scans from the worker, one worker at a time per interval.

A worker takes a scan with the outbox's lease (``RELINK_OUTBOX_LEASE_SECONDS``) and renews
it as it goes (after each scope, each institution), so a crashed worker's scan is taken
over a lease later and a long one is not run twice at once. A worker that finds its lease
gone stops, and leaves the scan's row to the worker that took it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence

import structlog
from sqlalchemy import select, update
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
from relink.outbox.lease import Lease, held_by
from relink.runtime import Runtime
from relink.tenancy import Scope

log = structlog.get_logger("relink.scans")

LIFECYCLE_SCAN = "lifecycle"


def _ensure_row(session: Session, name: str) -> None:
    values = {"name": name, "next_run_at": clock.now()}
    session.execute(
        insert_or_ignore(session, ScheduledScan, index_elements=["name"]).values(**values)
    )


def claim_scan(session: Session, name: str, worker_id: str, lease: Lease) -> bool:
    """Take the scan's lease if it is due and nobody holds it."""
    now = clock.now()
    _ensure_row(session, name)
    taken = session.execute(
        lease.take(ScheduledScan, worker_id, now).where(
            ScheduledScan.name == name, ScheduledScan.next_run_at <= now
        )
    )
    return bool(taken.rowcount)  # type: ignore[attr-defined]


def renew_scan(session: Session, name: str, worker_id: str, lease: Lease) -> bool:
    """Keep the scan's lease a lease ahead; False if another worker has taken it."""
    renewed = session.execute(
        lease.renew(ScheduledScan, worker_id, clock.now()).where(ScheduledScan.name == name)
    )
    if not renewed.rowcount:  # type: ignore[attr-defined]
        log.warning("scans.lease_lost", scan=name, worker_id=worker_id)
        return False
    return True


def finish_scan(
    session: Session,
    name: str,
    worker_id: str,
    next_run_at: dt.datetime,
    error: str | None = None,
) -> None:
    """Record the scan's run and end its lease (unless another worker has taken it)."""
    session.execute(
        update(ScheduledScan)
        .where(ScheduledScan.name == name, held_by(ScheduledScan, worker_id))
        .values(
            next_run_at=next_run_at,
            last_finished_at=clock.now(),
            locked_until=None,
            last_error=error,
        )
    )


def run_lifecycle_scans(
    runtime: Runtime, worker_id: str, scans: Sequence[ScopeScan]
) -> ScanResult | None:
    database = runtime.database
    lease = Lease.of(runtime.settings)
    with database.unit_of_work() as session:
        if not claim_scan(session, LIFECYCLE_SCAN, worker_id, lease):
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
                held = renew_scan(session, LIFECYCLE_SCAN, worker_id, lease)
        except Exception as failure:  # one scope's failure must not stop the others
            error = f"{scope.platform_id}/{scope.mode}: {failure}"
            log.exception("scans.scope_failed", platform=scope.platform_id, mode=scope.mode)
            continue
        if not held:
            return total
    with database.unit_of_work() as session:
        finish_scan(session, LIFECYCLE_SCAN, worker_id, clock.now() + SCAN_EVERY, error)
    return total


def run_scan_per_scope(
    runtime: Runtime,
    worker_id: str,
    name: str,
    every: dt.timedelta,
    work: Callable[[Session, Scope], int],
) -> int | None:
    """Run ``work`` for every scope, each in its own transaction, under the scan ``name``'s
    lease (renewed after each scope), then schedule the next run ``every`` later. The sum
    of what ``work`` returned, or None when it was not this worker's turn. One scope's
    failure is logged and recorded on the scan; the others still run."""
    database = runtime.database
    lease = Lease.of(runtime.settings)
    with database.unit_of_work() as session:
        if not claim_scan(session, name, worker_id, lease):
            return None
        scopes = all_scopes(session)
    SCANS.labels(name).inc()
    total = 0
    error = None
    for scope in scopes:
        try:
            with database.unit_of_work() as session:
                total += work(session, scope)
                held = renew_scan(session, name, worker_id, lease)
        except Exception as failure:  # one scope's failure must not stop the others
            error = f"{scope.platform_id}/{scope.mode}: {failure}"
            log.exception("scans.scope_failed", scan=name, platform=scope.platform_id)
            continue
        if not held:
            return total
    with database.unit_of_work() as session:
        finish_scan(session, name, worker_id, clock.now() + every, error)
    return total


INSTITUTION_HEALTH_SCAN = "institution_health"
HEALTH_EVERY = dt.timedelta(minutes=5)


def check_institution_health(runtime: Runtime, worker_id: str) -> int | None:
    """Ask each institution's connector how it is (every few minutes, one worker at a time)."""
    from relink.institutions.connectors import ConnectorUnavailable, connector_for
    from relink.institutions.health import record_health
    from relink.models import Institution
    from relink.tenancy import Scope

    database = runtime.database
    lease = Lease.of(runtime.settings)
    with database.unit_of_work() as session:
        if not claim_scan(session, INSTITUTION_HEALTH_SCAN, worker_id, lease):
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
            if not renew_scan(session, INSTITUTION_HEALTH_SCAN, worker_id, lease):
                return None
    with database.unit_of_work() as session:
        now = clock.now()
        for institution in session.scalars(select(Institution).where(Institution.id.in_(answers))):
            record_health(session, institution, answers[institution.id], now)
        finish_scan(session, INSTITUTION_HEALTH_SCAN, worker_id, now + HEALTH_EVERY)
    return len(answers)
