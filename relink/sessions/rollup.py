"""The outreach report's daily rollup (:class:`relink.models.OutreachDay`).

The report's figures come from the sessions and their timeline; over a million requests
that is seconds of grouped SQL, too slow for a page. So a worker scan (every
:data:`REFRESH_EVERY`) recomputes, per scope, the rollup rows of the recent days — the
requests of the last :data:`RECENT_DAYS` days, which may still move along the funnel
(a hosted link lives 30 days after its last visit) — with five grouped statements over
those days' sessions, and the report then adds up at most one row per day, institution
and reason. Older days are settled: the scan fills them in once, a chunk per run, going
back to the scope's first request.

Every count is exact. The median time to repair is exact too while a group has at most
:data:`Durations.MAX_VALUES` distinct durations; beyond that the durations are kept in
buckets 4 % wide, and the median is the bucket's value (within 2 % of the exact one).
"""

from __future__ import annotations

import bisect
import datetime as dt
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, and_, case, delete, func, insert, select
from sqlalchemy.orm import Session as DbSession

from relink.models import (
    Authorization,
    OutreachDay,
    OutreachMonth,
    OutreachRollup,
    Session,
    SessionStatus,
    SessionTimelineEntry,
)
from relink.runtime import Runtime
from relink.tenancy import Scope, in_scope

# The funnel's steps: the timeline kind each counts, and its name in words.
STEPS: tuple[tuple[str, str], ...] = (
    ("created", "Requested"),
    ("email_sent", "Email sent"),
    ("viewed", "Viewed"),
    # Not a step of the holder's: the links a machine fetched (a mail scanner, a
    # prefetch, a preview) and no person viewed yet, shown so "Viewed" counts people.
    ("scanned", "Scanned by a machine"),
    ("opened", "Opened"),
    ("authenticated", "Authenticated"),
    ("succeeded", "Repaired"),
    ("data_refreshed", "Data refreshed"),
)
STEP_KINDS = [kind for kind, _ in STEPS]
# Timeline kinds that are an email to the holder (reminders once they are sent).
EMAIL_KINDS = ["email_sent", "reminder_sent"]

# Requests of these last days are recomputed at every refresh; older ones are settled.
RECENT_DAYS = 32
# How many settled days one refresh fills in, going back to the scope's first request.
BACKFILL_DAYS = 62
REFRESH_EVERY = dt.timedelta(minutes=5)


def _bucket_index(seconds: int) -> int:
    return math.floor(math.log(seconds) / math.log(Durations.RATIO))


def _middle(index: int) -> int:
    middle: float = Durations.RATIO ** (index + 0.5)
    return round(middle)


@dataclass
class Durations:
    """Seconds from request to repair -> how many: exact up to :attr:`MAX_VALUES`
    distinct values, then in buckets of 4 % (each value its bucket's geometric middle).

    Once bucketed, a value added is put straight into its bucket (the bucket of a bucket's
    middle is that bucket), so adding up a year of rollup rows costs one dictionary step
    per stored value, not a re-bucketing per row."""

    counts: dict[int, int] = field(default_factory=dict)
    bucketed: bool = field(default=False, compare=False)

    MAX_VALUES = 256
    RATIO = 1.04

    @classmethod
    def of(cls, stored: Mapping[str, Any]) -> Durations:
        durations = cls({int(seconds): int(count) for seconds, count in stored.items()})
        if len(durations.counts) > cls.MAX_VALUES:
            durations._bucket()
        return durations

    def stored(self) -> dict[str, int]:
        return {str(seconds): count for seconds, count in sorted(self.counts.items())}

    def add(self, seconds: int, count: int = 1) -> None:
        if self.bucketed:
            seconds = self.bucket_value(seconds)
        self.counts[seconds] = self.counts.get(seconds, 0) + count
        if not self.bucketed and len(self.counts) > self.MAX_VALUES:
            self._bucket()

    def merge(self, other: Durations) -> None:
        if other.bucketed and not self.bucketed:
            self._bucket()
        counts = self.counts
        if self.bucketed and not other.bucketed:
            bucket = self.bucket_value
            for seconds, count in other.counts.items():
                middle = bucket(seconds)
                counts[middle] = counts.get(middle, 0) + count
            return
        for seconds, count in other.counts.items():
            counts[seconds] = counts.get(seconds, 0) + count
        if not self.bucketed and len(counts) > self.MAX_VALUES:
            self._bucket()

    def _bucket(self) -> None:
        bucketed: dict[int, int] = {}
        for seconds, count in self.counts.items():
            middle = self.bucket_value(seconds)
            bucketed[middle] = bucketed.get(middle, 0) + count
        self.counts, self.bucketed = bucketed, True

    @staticmethod
    def bucket_value(seconds: int) -> int:
        """The middle of the 4 % bucket ``seconds`` falls in (a table lookup: a report
        puts tens of thousands of values into buckets)."""
        if seconds <= 1:
            return max(seconds, 0)
        if seconds >= _BOUNDS[-1]:
            return _middle(_bucket_index(seconds))
        return _MIDDLES[bisect.bisect_right(_BOUNDS, seconds) - 1]

    def median(self) -> float | None:
        """The middle value, or the mean of the middle two (as SQL's would be)."""
        total = sum(self.counts.values())
        if not total:
            return None
        wanted = sorted({(total + 1) // 2, (total + 2) // 2})
        found: list[int] = []
        seen = 0
        for seconds in sorted(self.counts):
            seen += self.counts[seconds]
            while wanted and seen >= wanted[0]:
                found.append(seconds)
                wanted.pop(0)
        return sum(found) / len(found)


# The buckets from 2 s to about a thousand years: the least seconds of each (in order;
# a bucket no whole second falls in shares the next one's) and its middle.
_BOUNDS: list[int] = []
_MIDDLES: list[int] = []
for _index in range(_bucket_index(2), _bucket_index(2) + 800):
    _low = max(2, math.floor(Durations.RATIO**_index) - 2)
    while _bucket_index(_low) < _index:
        _low += 1
    _BOUNDS.append(_low)
    _MIDDLES.append(_middle(_index))


# -- dialect spellings ---------------------------------------------------------------------


def _is_postgres(db: DbSession) -> bool:
    return db.get_bind().dialect.name == "postgresql"


def _day_of(db: DbSession, column: Any) -> ColumnElement[Any]:
    if _is_postgres(db):
        return func.date(func.timezone("UTC", column))
    return func.date(column)  # SQLite stores UTC as 'YYYY-MM-DD HH:MM:SS…'


def _seconds_between(db: DbSession, start: Any, end: Any) -> ColumnElement[Any]:
    # Whole seconds: SQLite's julian days carry float noise in the last digits.
    if _is_postgres(db):
        return func.round(func.extract("epoch", end - start))
    return func.round((func.julianday(end) - func.julianday(start)) * 86400.0)


def as_date(value: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value))


def _midnight(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)


# -- computing the rows --------------------------------------------------------------------


Key = tuple[dt.date, str, str]


@dataclass
class _Row:
    requested: int = 0
    repaired: int = 0
    steps: dict[str, int] = field(default_factory=lambda: dict.fromkeys(STEP_KINDS, 0))
    emails: int = 0
    repaired_accounts: int = 0
    durations: Durations = field(default_factory=Durations)


def _sessions_of_days(db: DbSession, scope: Scope, first_day: dt.date, last_day: dt.date) -> Any:
    """The scope's hosted relink sessions requested on those days, with their group."""
    return (
        select(
            Session.id,
            Session.status,
            Session.created_at,
            Session.finished_at,
            Session.relink_account_id,
            _day_of(db, Session.created_at).label("day"),
            func.coalesce(Authorization.institution_id, "").label("institution"),
            func.coalesce(Session.relink_reason, "").label("reason"),
        )
        .outerjoin(
            Authorization,
            and_(
                Authorization.id == Session.relink_authorization_id,
                in_scope(Authorization, scope),
            ),
        )
        .where(
            in_scope(Session, scope),
            Session.delivery_method.is_not(None),
            Session.created_at >= _midnight(first_day),
            Session.created_at < _midnight(last_day + dt.timedelta(days=1)),
        )
        .subquery()
    )


def compute_days(
    db: DbSession, scope: Scope, first_day: dt.date, last_day: dt.date
) -> dict[Key, _Row]:
    """The rollup rows of the requests made from ``first_day`` to ``last_day``."""
    s = _sessions_of_days(db, scope, first_day, last_day)
    group = (s.c.day, s.c.institution, s.c.reason)
    rows: dict[Key, _Row] = defaultdict(_Row)

    def key(day: Any, institution: Any, reason: Any) -> Key:
        return (as_date(day), str(institution), str(reason))

    succeeded = s.c.status == SessionStatus.succeeded
    for day, institution, reason, requested, repaired, accounts in db.execute(
        select(
            *group,
            func.count(),
            func.sum(case((succeeded, 1), else_=0)),
            func.count(
                func.distinct(case((succeeded, func.coalesce(s.c.relink_account_id, s.c.id))))
            ),
        ).group_by(*group)
    ):
        row = rows[key(day, institution, reason)]
        row.requested, row.repaired = int(requested), int(repaired or 0)
        row.repaired_accounts = int(accounts or 0)
    timeline = (
        select(*group, SessionTimelineEntry.kind)
        .select_from(s)
        .join(SessionTimelineEntry, SessionTimelineEntry.session_id == s.c.id)
    )
    for day, institution, reason, kind, count in db.execute(
        timeline.add_columns(func.count(func.distinct(s.c.id)))
        .where(SessionTimelineEntry.kind.in_(STEP_KINDS))
        .group_by(*group, SessionTimelineEntry.kind)
    ):
        rows[key(day, institution, reason)].steps[str(kind)] = int(count)
    for day, institution, reason, count in db.execute(
        select(*group, func.count())
        .select_from(s)
        .join(SessionTimelineEntry, SessionTimelineEntry.session_id == s.c.id)
        .where(SessionTimelineEntry.kind.in_(EMAIL_KINDS))
        .group_by(*group)
    ):
        rows[key(day, institution, reason)].emails = int(count)
    seconds = _seconds_between(db, s.c.created_at, s.c.finished_at).label("seconds")
    for day, institution, reason, value, count in db.execute(
        select(*group, seconds, func.count())
        .where(succeeded, s.c.finished_at.is_not(None))
        .group_by(*group, seconds)
    ):
        rows[key(day, institution, reason)].durations.add(int(value), int(count))
    return rows


def refresh_days(db: DbSession, scope: Scope, first_day: dt.date, last_day: dt.date) -> int:
    """Recompute the scope's rollup rows of those days; the number of rows written."""
    rows = compute_days(db, scope, first_day, last_day)
    db.execute(
        delete(OutreachDay).where(
            in_scope(OutreachDay, scope),
            OutreachDay.day >= first_day,
            OutreachDay.day <= last_day,
        )
    )
    values = [
        {
            "platform_id": scope.platform_id,
            "livemode": scope.livemode,
            "day": day,
            "institution_key": institution,
            "reason_key": reason,
            "requested": row.requested,
            "repaired": row.repaired,
            "steps": row.steps,
            "emails": row.emails,
            "repaired_accounts": row.repaired_accounts,
            "repair_seconds": row.durations.stored(),
        }
        for (day, institution, reason), row in rows.items()
    ]
    if values:
        db.execute(insert(OutreachDay), values)
    refresh_months(db, scope, first_day, last_day)
    return len(values)


def _next_month(day: dt.date) -> dt.date:
    return (day.replace(day=1) + dt.timedelta(days=32)).replace(day=1)


def refresh_months(db: DbSession, scope: Scope, first_day: dt.date, last_day: dt.date) -> None:
    """Recompute the repair times of every month those days fall in, from its day rows."""
    first_month, after = first_day.replace(day=1), _next_month(last_day)
    merged: dict[Key, Durations] = defaultdict(Durations)
    for day, institution, reason, stored in db.execute(
        select(
            OutreachDay.day,
            OutreachDay.institution_key,
            OutreachDay.reason_key,
            OutreachDay.repair_seconds,
        ).where(
            in_scope(OutreachDay, scope),
            OutreachDay.day >= first_month,
            OutreachDay.day < after,
            OutreachDay.repaired > 0,
        )
    ):
        merged[(as_date(day).replace(day=1), institution, reason)].merge(Durations.of(stored))
    db.execute(
        delete(OutreachMonth).where(
            in_scope(OutreachMonth, scope),
            OutreachMonth.month >= first_month,
            OutreachMonth.month < after,
        )
    )
    if merged:
        db.execute(
            insert(OutreachMonth),
            [
                {
                    "platform_id": scope.platform_id,
                    "livemode": scope.livemode,
                    "month": month,
                    "institution_key": institution,
                    "reason_key": reason,
                    "repair_seconds": durations.stored(),
                }
                for (month, institution, reason), durations in merged.items()
            ],
        )


def refresh_scope(db: DbSession, scope: Scope, now: dt.datetime | None = None) -> OutreachRollup:
    """Recompute the scope's recent days and fill in one chunk of settled ones."""
    now = now or scope.now()
    today = now.date()
    recent_from = today - dt.timedelta(days=RECENT_DAYS - 1)
    refresh_days(db, scope, recent_from, today)
    state = db.get(OutreachRollup, (scope.platform_id, scope.livemode))
    covered_from = recent_from if state is None else min(state.covered_from, recent_from)
    first = db.scalar(
        select(func.min(Session.created_at)).where(
            in_scope(Session, scope), Session.delivery_method.is_not(None)
        )
    )
    if first is not None and first.date() < covered_from:
        chunk_from = max(first.date(), covered_from - dt.timedelta(days=BACKFILL_DAYS))
        refresh_days(db, scope, chunk_from, covered_from - dt.timedelta(days=1))
        covered_from = chunk_from
    if state is None:
        state = OutreachRollup(
            platform_id=scope.platform_id,
            livemode=scope.livemode,
            refreshed_at=now,
            covered_from=covered_from,
        )
        db.add(state)
    else:
        state.refreshed_at, state.covered_from = now, covered_from
    db.flush()
    return state


def _in_days(scope: Scope, first_day: dt.date, last_day: dt.date) -> ColumnElement[bool]:
    return and_(
        in_scope(OutreachDay, scope), OutreachDay.day >= first_day, OutreachDay.day <= last_day
    )


def steps_by_day(
    db: DbSession, scope: Scope, first_day: dt.date, last_day: dt.date
) -> Iterable[tuple[dt.date, dict[str, int]]]:
    """Each day's requests that reached each funnel step (summed in the database)."""
    sums = [func.sum(OutreachDay.steps[kind].as_integer()) for kind in STEP_KINDS]
    for day, *counts in db.execute(
        select(OutreachDay.day, *sums)
        .where(_in_days(scope, first_day, last_day))
        .group_by(OutreachDay.day)
    ):
        yield as_date(day), {kind: int(n or 0) for kind, n in zip(STEP_KINDS, counts, strict=True)}


def totals_by_group(
    db: DbSession, scope: Scope, first_day: dt.date, last_day: dt.date
) -> Iterable[tuple[str, str, int, int, int, int]]:
    """Per (institution, reason): requested, repaired, emails, repaired accounts."""
    for institution, reason, requested, repaired, emails, accounts in db.execute(
        select(
            OutreachDay.institution_key,
            OutreachDay.reason_key,
            func.sum(OutreachDay.requested),
            func.sum(OutreachDay.repaired),
            func.sum(OutreachDay.emails),
            func.sum(OutreachDay.repaired_accounts),
        )
        .where(_in_days(scope, first_day, last_day))
        .group_by(OutreachDay.institution_key, OutreachDay.reason_key)
    ):
        yield institution, reason, int(requested), int(repaired), int(emails), int(accounts)


def repair_times(
    db: DbSession, scope: Scope, first_day: dt.date, last_day: dt.date
) -> Iterable[tuple[str, str, Durations]]:
    """The repair times of those days' requests per (institution, reason), a row at a
    time: the months the period holds whole from their month rows, the days before and
    after them from their day rows."""
    whole_from = first_day if first_day.day == 1 else _next_month(first_day)
    whole_until = _next_month(last_day)  # exclusive
    if last_day + dt.timedelta(days=1) != whole_until:
        whole_until = last_day.replace(day=1)
    edges: list[tuple[dt.date, dt.date]] = [(first_day, last_day)]
    if whole_from < whole_until:
        edges = [
            (first_day, whole_from - dt.timedelta(days=1)),
            (whole_until, last_day),
        ]
        for institution, reason, stored in db.execute(
            select(
                OutreachMonth.institution_key,
                OutreachMonth.reason_key,
                OutreachMonth.repair_seconds,
            ).where(
                in_scope(OutreachMonth, scope),
                OutreachMonth.month >= whole_from,
                OutreachMonth.month < whole_until,
            )
        ):
            yield institution, reason, Durations.of(stored)
    for since, until in edges:
        if since > until:
            continue
        for institution, reason, stored in db.execute(
            select(
                OutreachDay.institution_key, OutreachDay.reason_key, OutreachDay.repair_seconds
            ).where(_in_days(scope, since, until), OutreachDay.repaired > 0)
        ):
            yield institution, reason, Durations.of(stored)


def rollup_state(db: DbSession, scope: Scope) -> OutreachRollup | None:
    return db.get(OutreachRollup, (scope.platform_id, scope.livemode))


# The worker's scheduled scan of every scope's rollup.
ROLLUP_SCAN = "outreach_rollup"


def run_rollup_scan(runtime: Runtime, worker_id: str) -> int | None:
    """Refresh every scope's rollup (every :data:`REFRESH_EVERY`, one worker at a time)."""
    from relink.lifecycle.tasks import run_scan_per_scope

    def refresh(db: DbSession, scope: Scope) -> int:
        refresh_scope(db, scope)
        return 1

    return run_scan_per_scope(runtime, worker_id, ROLLUP_SCAN, REFRESH_EVERY, refresh)
