"""The outreach report's figures, from a seeded book worked out by hand, on SQLite and
PostgreSQL; only the scope's own requests count."""

from __future__ import annotations

import datetime as dt

import pytest

from relink.platforms.service import NewPlatform
from relink.runtime import Runtime
from relink.sessions.report import (
    Grain,
    OutreachReport,
    Period,
    PeriodInvalid,
    duration_words,
    outreach_report,
)
from relink.tenancy import Scope
from tests.conftest import make_platform
from tests.sessions.report_book import (
    BOOK,
    EXPECTED,
    FIRST_DAY,
    LAST_DAY,
    OUTSIDE,
    STEPS_ORDER,
    seed,
)


@pytest.fixture
def book(runtime: Runtime, platform: NewPlatform) -> Scope:
    """The book in the platform's test mode; other requests around it that must not count:
    one the day before the period, the same requests in live mode and at another platform."""
    platform_id = platform.platform.id
    seed(runtime, platform_id, False, [*BOOK, OUTSIDE])
    seed(runtime, platform_id, True, BOOK)
    with runtime.database.unit_of_work() as db:
        other = make_platform(db, name="Other Lending").platform.id
    seed(runtime, other, False, BOOK)
    return Scope(platform_id, False)


def _report(runtime: Runtime, scope: Scope, grain: Grain = Grain.day) -> OutreachReport:
    with runtime.database.read_only() as db:
        return outreach_report(db, scope, Period.of(FIRST_DAY, LAST_DAY, grain))


def test_the_funnel_counts_each_steps_sessions_by_day(runtime: Runtime, book: Scope) -> None:
    report = _report(runtime, book)
    assert len(report.funnel) == 14
    by_day = {
        p.start: [p.counts[k] for k in STEPS_ORDER] for p in report.funnel if p.counts["created"]
    }
    assert by_day == EXPECTED["by_day"]
    assert report.totals == EXPECTED["totals"]


def test_the_funnel_rolls_days_up_into_weeks(runtime: Runtime, book: Scope) -> None:
    report = _report(runtime, book, Grain.week)
    assert {p.start: [p.counts[k] for k in STEPS_ORDER] for p in report.funnel} == EXPECTED[
        "by_week"
    ]


def test_repair_rate_and_median_time_by_institution(runtime: Runtime, book: Scope) -> None:
    report = _report(runtime, book)
    assert {
        g.name: (g.requested, g.repaired, g.median_seconds) for g in report.by_institution
    } == EXPECTED["by_institution"]
    assert [round(g.repair_rate, 4) for g in report.by_institution] == [0.6667, 0.5]


def test_repair_rate_and_median_time_by_reason(runtime: Runtime, book: Scope) -> None:
    report = _report(runtime, book)
    assert {
        g.name: (g.requested, g.repaired, g.median_seconds) for g in report.by_reason
    } == EXPECTED["by_reason"]


def test_emails_per_repaired_account_and_the_overall_median(runtime: Runtime, book: Scope) -> None:
    report = _report(runtime, book)
    assert (report.emails_sent, report.repaired_accounts) == (
        EXPECTED["emails_sent"],
        EXPECTED["repaired_accounts"],
    )
    assert report.emails_per_repaired_account == 2.0
    assert report.median_seconds == EXPECTED["median_seconds"]
    assert report.repair_rate == 3 / 5


def test_a_scope_without_requests_has_an_empty_report(runtime: Runtime, book: Scope) -> None:
    report = _report(runtime, Scope(book.platform_id + "x", False))
    assert report.requested == 0 and report.by_institution == [] and report.by_reason == []
    assert report.median_seconds is None and report.emails_per_repaired_account is None


@pytest.mark.parametrize(
    ("first", "last", "grain", "message"),
    [
        (dt.date(2026, 3, 2), dt.date(2026, 3, 1), "day", "The period's end is before its start."),
        (dt.date(2020, 1, 1), dt.date(2026, 1, 1), "day", "A report covers at most two years."),
        (dt.date(2026, 3, 1), dt.date(2026, 3, 2), "hour", "Group by must be day, week or month."),
    ],
)
def test_a_period_the_report_cannot_cover_is_refused_in_words(
    first: dt.date, last: dt.date, grain: str, message: str
) -> None:
    with pytest.raises(PeriodInvalid, match=message.replace(".", r"\.")):
        Period.of(first, last, grain)


def test_months_start_on_the_first_and_weeks_on_monday() -> None:
    period = Period.of(dt.date(2026, 1, 28), dt.date(2026, 3, 3), Grain.month)
    assert period.buckets() == [dt.date(2026, 1, 1), dt.date(2026, 2, 1), dt.date(2026, 3, 1)]
    weeks = Period.of(dt.date(2026, 3, 4), dt.date(2026, 3, 10), Grain.week)
    assert weeks.buckets() == [dt.date(2026, 3, 2), dt.date(2026, 3, 9)]


@pytest.mark.parametrize(
    ("seconds", "words"),
    [
        (None, "—"),
        (45, "45 s"),
        (120, "2 min"),
        (150, "2 min 30 s"),
        (7260, "2 h 1 min"),
        (180000, "2 d 2 h"),
    ],
)
def test_durations_read_as_words(seconds: float | None, words: str) -> None:
    assert duration_words(seconds) == words
