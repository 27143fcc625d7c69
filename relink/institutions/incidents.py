"""Incidents: many of one institution's accounts broke at once, so the trouble is the
bank's or its connector's, not each holder's.

Every minute a leased scan looks, per platform and mode, at the accounts that became
inactive within the window (``RELINK_INCIDENT_WINDOW_MINUTES``). An institution where at
least ``RELINK_INCIDENT_MIN_ACCOUNTS`` broke, and at least ``RELINK_INCIDENT_MIN_SHARE``
of its accounts (those active now plus those broken in the window), gets an open
incident: automatic outreach for it holds (:func:`held_institutions`), the dashboard
shows a banner with the affected count, and the platform's owners get one email. The
incident stays open until an operator releases it; breaks before the release are not
counted again. Only the heavy part — counting the window's breaks — runs over the
accounts, as one grouped, index-backed statement; the rest concerns the few institutions
it returns.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import structlog
from sqlalchemy import Select, func, select, update
from sqlalchemy.orm import Session as DbSession

from relink.config import Settings
from relink.email.owners import queue_owner_emails, send_owner_email
from relink.kit import ids
from relink.kit.sql import insert_or_ignore
from relink.models import (
    Account,
    ConnectionStatus,
    InactiveCause,
    Incident,
    Institution,
    Platform,
)
from relink.outbox.handlers import Job
from relink.runtime import Runtime
from relink.tenancy import Scope, in_scope

log = structlog.get_logger("relink.incidents")

INCIDENT_SCAN = "incidents"
INCIDENT_EVERY = dt.timedelta(minutes=1)
# Outbox kind: tell one owner about a new incident.
INCIDENT_EMAIL = "email.incident_opened"
TEMPLATE = "email/incident_opened"


@dataclass(frozen=True)
class Thresholds:
    window: dt.timedelta
    min_accounts: int
    min_share: float

    @classmethod
    def of(cls, settings: Settings) -> Thresholds:
        return cls(
            window=dt.timedelta(minutes=settings.incident_window_minutes),
            min_accounts=settings.incident_min_accounts,
            min_share=settings.incident_min_share,
        )


def _broken_since(scope: Scope, institution_id: str, since: dt.datetime) -> Select[int]:
    """How many of the institution's accounts broke since ``since`` and are broken still
    (a closed account is the holder's doing, not the bank's)."""
    return select(func.count()).where(
        in_scope(Account, scope),
        Account.institution_id == institution_id,
        Account.deactivated_at >= since,
        Account.status == ConnectionStatus.inactive,
        Account.inactive_cause != InactiveCause.account_closed,
    )


def detect_incidents(
    db: DbSession, scope: Scope, thresholds: Thresholds, now: dt.datetime
) -> list[Incident]:
    """Open an incident for each institution whose breaks in the window pass both
    thresholds (and queue the owners' emails); refresh the affected count of the open
    ones. Returns the incidents opened."""
    since = now - thresholds.window
    candidates = db.execute(
        select(Account.institution_id, func.count())
        .where(
            in_scope(Account, scope),
            Account.deactivated_at >= since,
            Account.status == ConnectionStatus.inactive,
            Account.inactive_cause != InactiveCause.account_closed,
        )
        .group_by(Account.institution_id)
        .having(func.count() >= thresholds.min_accounts)
    ).all()
    open_ids = set(db.scalars(held_institutions(scope)))
    last_release = dict(
        db.execute(
            select(Incident.institution_id, func.max(Incident.released_at))
            .where(in_scope(Incident, scope), Incident.released_at.is_not(None))
            .group_by(Incident.institution_id)
        ).all()
    )
    opened = []
    for institution_id, broken in candidates:
        if institution_id in open_ids:
            continue
        start = since
        released = last_release.get(institution_id)
        if released is not None and released > since:
            start = released
            broken = db.scalar(_broken_since(scope, institution_id, start)) or 0
            if broken < thresholds.min_accounts:
                continue
        active = db.scalar(
            select(func.count()).where(
                in_scope(Account, scope),
                Account.institution_id == institution_id,
                Account.status == ConnectionStatus.active,
            )
        )
        total = broken + (active or 0)
        if broken / total < thresholds.min_share:
            continue
        incident = _open(db, scope, institution_id, start, broken, total, now)
        if incident is not None:
            opened.append(incident)
    _refresh_affected(db, scope, open_ids)
    return opened


def _open(
    db: DbSession,
    scope: Scope,
    institution_id: str,
    start: dt.datetime,
    broken: int,
    total: int,
    now: dt.datetime,
) -> Incident | None:
    """Insert the open incident unless one is open already (two workers: one wins)."""
    inserted = db.scalar(
        insert_or_ignore(
            db,
            Incident,
            index_elements=["platform_id", "livemode", "institution_id"],
            index_where=Incident.released_at.is_(None),
        )
        .values(
            id=ids.new("inc"),
            platform_id=scope.platform_id,
            livemode=scope.livemode,
            institution_id=institution_id,
            opened_at=now,
            window_started_at=start,
            affected_count=broken,
            accounts_count=total,
        )
        .returning(Incident.id)
    )
    if inserted is None:
        return None
    incident_id: str = inserted
    queue_owner_emails(
        db,
        INCIDENT_EMAIL,
        {"incident_id": incident_id},
        dedupe_key=f"email:incident:{incident_id}",
        platform_id=scope.platform_id,
        livemode=scope.livemode,
    )
    log.warning(
        "incident.opened",
        platform=scope.platform_id,
        mode=scope.mode,
        institution=institution_id,
        affected=broken,
        accounts=total,
    )
    return db.get(Incident, incident_id)


def _refresh_affected(db: DbSession, scope: Scope, institution_ids: set[str]) -> None:
    for incident in db.scalars(
        select(Incident).where(
            in_scope(Incident, scope),
            Incident.released_at.is_(None),
            Incident.institution_id.in_(institution_ids),
        )
    ):
        count = db.scalar(_broken_since(scope, incident.institution_id, incident.window_started_at))
        incident.affected_count = int(count or 0)


def held_institutions(scope: Scope) -> Select[str]:
    """The institutions whose automatic outreach holds in ``scope`` (an open incident):
    a subquery for ``Account.institution_id.not_in(...)``."""
    return select(Incident.institution_id).where(
        in_scope(Incident, scope), Incident.released_at.is_(None)
    )


@dataclass(frozen=True)
class OpenIncident:
    id: str
    institution_id: str
    institution_name: str
    opened_at: dt.datetime
    affected_count: int
    accounts_count: int


def open_incidents(db: DbSession, scope: Scope) -> list[OpenIncident]:
    """The scope's open incidents, the newest first (the dashboard's banner)."""
    rows = db.execute(
        select(Incident, Institution.name)
        .join(Institution, Institution.id == Incident.institution_id)
        .where(in_scope(Incident, scope), Incident.released_at.is_(None))
        .order_by(Incident.opened_at.desc())
    ).all()
    return [
        OpenIncident(
            id=incident.id,
            institution_id=incident.institution_id,
            institution_name=name,
            opened_at=incident.opened_at,
            affected_count=incident.affected_count,
            accounts_count=incident.accounts_count,
        )
        for incident, name in rows
    ]


def find_open(db: DbSession, scope: Scope, incident_id: str) -> OpenIncident | None:
    return next((i for i in open_incidents(db, scope) if i.id == incident_id), None)


def release(db: DbSession, scope: Scope, incident_id: str, *, actor: str) -> bool:
    """End the hold: automatic outreach for the institution goes on. False if the
    incident is not open in ``scope`` (released already, or another scope's)."""
    released = db.execute(
        update(Incident)
        .where(
            Incident.id == incident_id,
            in_scope(Incident, scope),
            Incident.released_at.is_(None),
        )
        .values(released_at=scope.now(), released_by=actor)
    )
    if released.rowcount:  # type: ignore[attr-defined]
        log.info("incident.released", platform=scope.platform_id, incident=incident_id)
    return bool(released.rowcount)  # type: ignore[attr-defined]


def run_incident_scan(runtime: Runtime, worker_id: str) -> int | None:
    """Detect incidents in every scope (every minute, one worker at a time); the number
    opened, or None when it was not this worker's turn."""
    from relink.lifecycle.tasks import run_scan_per_scope

    thresholds = Thresholds.of(runtime.settings)
    return run_scan_per_scope(
        runtime,
        worker_id,
        INCIDENT_SCAN,
        INCIDENT_EVERY,
        lambda db, scope: len(detect_incidents(db, scope, thresholds, scope.now())),
    )


def send_incident_email(job: Job) -> None:
    with job.runtime.database.read_only() as db:
        incident = db.get(Incident, job.message.payload["incident_id"])
        if incident is None:
            return
        platform = db.get(Platform, incident.platform_id)
        institution = db.get(Institution, incident.institution_id)
        assert platform is not None and institution is not None
        context = {
            "institution_name": institution.name,
            "affected": incident.affected_count,
            "accounts": incident.accounts_count,
            "public_url": job.runtime.settings.public_url.rstrip("/"),
        }
        livemode = incident.livemode
    send_owner_email(job, TEMPLATE, context, platform=platform, livemode=livemode)
