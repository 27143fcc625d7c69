"""The outreach report: what hosted relink requests achieved over a period (issue: the
outreach report; shown at ``/reports/outreach`` and by ``relink report outreach``).

Every figure is added up from the scope's daily rollup (:mod:`relink.sessions.rollup`,
refreshed by the worker every few minutes), one row per day of request, institution and
reason, so the report reads a few thousand rows whatever the number of requests:

- the funnel per day (rolled up to weeks or months here): sessions reaching each step
  (``viewed`` counts people; ``scanned`` the links only a machine fetched, see
  docs/links.md);
- repair rate and median time to repair (request → ``succeeded``) by institution and by
  the reason recorded on the session (``relink_reason``);
- emails sent per repaired account (an account repaired on two days counts twice).
"""

from __future__ import annotations

import datetime as dt
import enum
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy.orm import Session as DbSession

from relink.eligibility.relink_reason import label as reason_label
from relink.institutions.repository import InstitutionRepository
from relink.sessions.rollup import (
    STEP_KINDS,
    STEPS,
    Durations,
    repair_times,
    rollup_state,
    steps_by_day,
    totals_by_group,
)
from relink.tenancy import Scope

__all__ = ["STEPS", "Grain", "OutreachReport", "Period", "PeriodInvalid", "outreach_report"]
# The longest period one report covers (a row per day at most this many).
MAX_PERIOD = dt.timedelta(days=732)


class Grain(enum.StrEnum):
    day = "day"
    week = "week"
    month = "month"


class PeriodInvalid(ValueError):
    """A period the report cannot cover; the message says why, in words (English, as the
    CLI prints it), and ``problem`` which rule it broke (``grain``, ``order``, ``length``
    or ``date``), for a page that words it in its reader's language."""

    def __init__(self, message: str, *, problem: str) -> None:
        super().__init__(message)
        self.problem = problem


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
            raise PeriodInvalid("Group by must be day, week or month.", problem="grain") from None
        if last_day < first_day:
            raise PeriodInvalid("The period's end is before its start.", problem="order")
        if last_day - first_day > MAX_PERIOD:
            raise PeriodInvalid("A report covers at most two years.", problem="length")
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
    # When the rollup the figures come from was refreshed, and its first day (None: never).
    as_of: dt.datetime | None = None
    covered_from: dt.date | None = None

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


def outreach_report(db: DbSession, scope: Scope, period: Period) -> OutreachReport:
    """The period's figures, added up from the scope's daily rollup
    (:mod:`relink.sessions.rollup`): as of its last refresh."""
    report = OutreachReport(period)
    state = rollup_state(db, scope)
    if state is not None:
        report.as_of, report.covered_from = state.refreshed_at, state.covered_from
    counts: dict[dt.date, dict[str, int]] = {
        start: dict.fromkeys(STEP_KINDS, 0) for start in period.buckets()
    }
    for day, steps in steps_by_day(db, scope, period.first_day, period.last_day):
        bucket = counts[period.bucket(day)]
        for kind, count in steps.items():
            bucket[kind] += count
    # Added up per (institution, reason) first; the institutions', the reasons' and the
    # overall figures are then a few dozen merges of those.
    pairs: dict[tuple[str, str], _Group] = defaultdict(_Group)
    for institution, reason, requested, repaired, emails, accounts in totals_by_group(
        db, scope, period.first_day, period.last_day
    ):
        pair = pairs[(institution, reason)]
        pair.requested, pair.repaired = requested, repaired
        report.emails_sent += emails
        report.repaired_accounts += accounts
    for institution, reason, durations in repair_times(
        db, scope, period.first_day, period.last_day
    ):
        pairs[(institution, reason)].durations.merge(durations)
    groups: dict[str, dict[str, _Group]] = {"institution": {}, "reason": {}}
    everything = Durations()
    for (institution, reason), pair in pairs.items():
        everything.merge(pair.durations)
        for kind, key in (("institution", institution), ("reason", reason)):
            figures = groups[kind].setdefault(key, _Group())
            figures.requested += pair.requested
            figures.repaired += pair.repaired
            figures.durations.merge(pair.durations)
    report.funnel = [FunnelPoint(start, steps) for start, steps in counts.items()]
    report.totals = {
        kind: sum(point.counts[kind] for point in report.funnel) for kind in STEP_KINDS
    }
    institutions = {key: g for key, g in groups["institution"].items() if key}
    names = InstitutionRepository(db, scope.livemode).by_ids(set(institutions))
    report.by_institution = _sorted(
        GroupFigures(
            key,
            names[key].name if key in names else key,
            g.requested,
            g.repaired,
            g.durations.median(),
        )
        for key, g in institutions.items()
    )
    report.by_reason = _sorted(
        GroupFigures(
            key or None,
            reason_label(key or None),
            g.requested,
            g.repaired,
            g.durations.median(),
        )
        for key, g in groups["reason"].items()
    )
    report.median_seconds = everything.median()
    return report


@dataclass
class _Group:
    requested: int = 0
    repaired: int = 0
    durations: Durations = field(default_factory=Durations)


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
