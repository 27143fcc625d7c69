"""The outreach report: what hosted relink requests achieved over a period (issue: the
outreach report; shown at ``/reports/outreach`` and by ``relink report outreach``).

Every figure is computed from the sessions and their timeline, in grouped SQL over the
scope's hosted relink sessions created in the period (no row is loaded per session):

- the funnel per day (rolled up to weeks or months here): sessions reaching each step
  (``viewed`` counts people; ``scanned`` the links only a machine fetched, see
  docs/links.md);
- repair rate and median time to repair (request → ``succeeded``) by institution and by
  the reason recorded on the session (``relink_reason``);
- emails sent per repaired account.

The median is the same SQL on SQLite and PostgreSQL (window functions: the middle one or
two durations of each group, averaged); only the day of a timestamp and the seconds
between two are spelled per dialect.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, case, func, literal_column, select
from sqlalchemy.orm import Session as DbSession

from relink.eligibility.relink_reason import label as reason_label
from relink.institutions.repository import InstitutionRepository
from relink.models import Authorization, Session, SessionStatus, SessionTimelineEntry
from relink.sessions.repository import SessionRepository
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
# The longest period one report covers (a row per day at most this many).
MAX_PERIOD = dt.timedelta(days=732)


class Grain(enum.StrEnum):
    day = "day"
    week = "week"
    month = "month"


class PeriodInvalid(ValueError):
    """A period the report cannot cover; the message says why, in words."""


@dataclass(frozen=True)
class Period:
    """Sessions created from ``since`` (inclusive) to ``until`` (exclusive), in UTC days."""

    first_day: dt.date
    last_day: dt.date
    grain: Grain = Grain.day

    @classmethod
    def of(cls, first_day: dt.date, last_day: dt.date, grain: Grain | str = Grain.day) -> Period:
        try:
            grain = Grain(grain)
        except ValueError:
            raise PeriodInvalid("Group by must be day, week or month.") from None
        if last_day < first_day:
            raise PeriodInvalid("The period's end is before its start.")
        if last_day - first_day > MAX_PERIOD:
            raise PeriodInvalid("A report covers at most two years.")
        return cls(first_day, last_day, grain)

    @classmethod
    def last_days(cls, today: dt.date, days: int = 30, grain: Grain = Grain.day) -> Period:
        return cls(today - dt.timedelta(days=days - 1), today, grain)

    @property
    def since(self) -> dt.datetime:
        return dt.datetime.combine(self.first_day, dt.time(), tzinfo=dt.UTC)

    @property
    def until(self) -> dt.datetime:
        return dt.datetime.combine(self.last_day + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)

    def bucket(self, day: dt.date) -> dt.date:
        """The first day of the bucket ``day`` falls in (weeks start on Monday)."""
        if self.grain == Grain.week:
            return day - dt.timedelta(days=day.weekday())
        if self.grain == Grain.month:
            return day.replace(day=1)
        return day

    def buckets(self) -> list[dt.date]:
        found: list[dt.date] = []
        day = self.first_day
        while day <= self.last_day:
            start = self.bucket(day)
            if not found or found[-1] != start:
                found.append(start)
            day += dt.timedelta(days=1)
        return found


@dataclass(frozen=True)
class FunnelPoint:
    start: dt.date
    counts: dict[str, int]


@dataclass(frozen=True)
class GroupFigures:
    """Repairs of one institution or one reason."""

    key: str | None
    name: str
    requested: int
    repaired: int
    median_seconds: float | None

    @property
    def repair_rate(self) -> float:
        return self.repaired / self.requested if self.requested else 0.0


@dataclass
class OutreachReport:
    period: Period
    funnel: list[FunnelPoint] = field(default_factory=list)
    totals: dict[str, int] = field(default_factory=dict)
    by_institution: list[GroupFigures] = field(default_factory=list)
    by_reason: list[GroupFigures] = field(default_factory=list)
    emails_sent: int = 0
    repaired_accounts: int = 0
    median_seconds: float | None = None

    @property
    def requested(self) -> int:
        return self.totals.get("created", 0)

    @property
    def repaired(self) -> int:
        return self.totals.get("succeeded", 0)

    @property
    def repair_rate(self) -> float:
        return self.repaired / self.requested if self.requested else 0.0

    @property
    def emails_per_repaired_account(self) -> float | None:
        return self.emails_sent / self.repaired_accounts if self.repaired_accounts else None


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


def _as_date(value: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value))


# -- the queries ---------------------------------------------------------------------------


def _sessions(db: DbSession, scope: Scope, period: Period) -> Select[Any]:
    """The scope's hosted relink sessions created in the period."""
    return (
        SessionRepository(db, scope)
        .select()
        .where(
            Session.delivery_method.is_not(None),
            Session.created_at >= period.since,
            Session.created_at < period.until,
        )
    )


def _funnel(db: DbSession, scope: Scope, period: Period) -> list[FunnelPoint]:
    sessions = _sessions(db, scope, period).subquery()
    day = _day_of(db, sessions.c.created_at).label("day")
    rows = db.execute(
        select(day, SessionTimelineEntry.kind, func.count(func.distinct(sessions.c.id)))
        .select_from(sessions)
        .join(SessionTimelineEntry, SessionTimelineEntry.session_id == sessions.c.id)
        .where(SessionTimelineEntry.kind.in_(STEP_KINDS))
        .group_by(day, SessionTimelineEntry.kind)
    ).all()
    counts: dict[dt.date, dict[str, int]] = {
        start: dict.fromkeys(STEP_KINDS, 0) for start in period.buckets()
    }
    for day_value, kind, count in rows:
        counts[period.bucket(_as_date(day_value))][str(kind)] += int(count)
    return [FunnelPoint(start, steps) for start, steps in counts.items()]


def _medians(db: DbSession, sessions: Any, group: Any) -> dict[Any, float]:
    """The median seconds from request to repair of each group's succeeded sessions."""
    seconds = _seconds_between(db, sessions.c.created_at, sessions.c.finished_at)
    ranked = (
        select(
            group.label("grp"),
            seconds.label("seconds"),
            func.row_number().over(partition_by=group, order_by=seconds).label("rank"),
            func.count().over(partition_by=group).label("n"),
        )
        .where(sessions.c.status == SessionStatus.succeeded, sessions.c.finished_at.is_not(None))
        .subquery()
    )
    middle = ranked.c.rank.in_([(ranked.c.n + 1) // 2, (ranked.c.n + 2) // 2])
    return {
        key: float(value)
        for key, value in db.execute(
            select(ranked.c.grp, func.avg(ranked.c.seconds)).where(middle).group_by(ranked.c.grp)
        )
    }


def _groups(
    db: DbSession, scope: Scope, period: Period, column: str
) -> list[tuple[str | None, int, int, float | None]]:
    """(key, requested, repaired, median seconds) per institution or reason."""
    base = _sessions(db, scope, period)
    if column == "institution":
        joined = base.join(
            Authorization,
            and_(
                Authorization.id == Session.relink_authorization_id,
                in_scope(Authorization, scope),
            ),
        ).add_columns(Authorization.institution_id.label("grp"))
    else:
        joined = base.add_columns(Session.relink_reason.label("grp"))
    sessions = joined.subquery()
    group = sessions.c.grp
    repaired = func.sum(case((sessions.c.status == SessionStatus.succeeded, 1), else_=0))
    counts = db.execute(select(group, func.count(), repaired).group_by(group)).all()
    medians = _medians(db, sessions, group)
    return [
        (key, int(requested), int(done or 0), medians.get(key)) for key, requested, done in counts
    ]


def _emails_and_repairs(db: DbSession, scope: Scope, period: Period) -> tuple[int, int]:
    sessions = _sessions(db, scope, period).subquery()
    emails = db.scalar(
        select(func.count())
        .select_from(sessions)
        .join(SessionTimelineEntry, SessionTimelineEntry.session_id == sessions.c.id)
        .where(SessionTimelineEntry.kind.in_(EMAIL_KINDS))
    )
    accounts = db.scalar(
        select(
            func.count(func.distinct(func.coalesce(sessions.c.relink_account_id, sessions.c.id)))
        ).where(sessions.c.status == SessionStatus.succeeded)
    )
    return int(emails or 0), int(accounts or 0)


def _overall_median(db: DbSession, scope: Scope, period: Period) -> float | None:
    sessions = _sessions(db, scope, period).subquery()
    return _medians(db, sessions, literal_column("'all'")).get("all")


def outreach_report(db: DbSession, scope: Scope, period: Period) -> OutreachReport:
    report = OutreachReport(period)
    report.funnel = _funnel(db, scope, period)
    report.totals = {
        kind: sum(point.counts[kind] for point in report.funnel) for kind in STEP_KINDS
    }
    institutions = _groups(db, scope, period, "institution")
    names = InstitutionRepository(db, scope.livemode).by_ids(
        {key for key, *_ in institutions if key is not None}
    )
    report.by_institution = _sorted(
        GroupFigures(key, names[key].name if key in names else str(key), asked, done, median)
        for key, asked, done, median in institutions
    )
    report.by_reason = _sorted(
        GroupFigures(key, reason_label(key), asked, done, median)
        for key, asked, done, median in _groups(db, scope, period, "reason")
    )
    report.emails_sent, report.repaired_accounts = _emails_and_repairs(db, scope, period)
    report.median_seconds = _overall_median(db, scope, period)
    return report


def _sorted(groups: Iterable[GroupFigures]) -> list[GroupFigures]:
    return sorted(groups, key=lambda g: (-g.requested, g.name))


def duration_words(seconds: float | None) -> str:
    """A median time in words: "3 h 20 min", "2 d 4 h", "45 s"; "—" when none."""
    if seconds is None:
        return "—"
    whole = round(seconds)
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    if minutes:
        return f"{minutes} min {secs} s" if secs else f"{minutes} min"
    return f"{secs} s"
