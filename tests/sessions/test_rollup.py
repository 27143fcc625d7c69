"""The outreach report's daily rollup: the report reads it, the worker refreshes it (recent
days every time, settled days once, going back), and its median stays close to exact."""

from __future__ import annotations

import datetime as dt
import statistics

import stripe
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from relink.models import OutreachMonth
from relink.platforms.service import NewPlatform
from relink.runtime import Runtime
from relink.sessions.report import OutreachReport, Period, outreach_report
from relink.sessions.rollup import (
    BACKFILL_DAYS,
    RECENT_DAYS,
    ROLLUP_SCAN,
    Durations,
    refresh_scope,
    rollup_state,
    run_rollup_scan,
)
from relink.tenancy import Scope, in_scope
from tests.email.factories import eligible_account, request_relink_email
from tests.factories import make_scan_due
from tests.sessions.report_book import (
    BOOK,
    DAY,
    EXPECTED,
    FIRST_DAY,
    FULL_PATH,
    HOUR,
    LAST_DAY,
    NON_OAUTH,
    Request,
    seed,
)


def _report(runtime: Runtime, scope: Scope) -> OutreachReport:
    with runtime.database.read_only() as db:
        return outreach_report(db, scope, Period.of(FIRST_DAY, LAST_DAY))


def _refresh(runtime: Runtime, scope: Scope, now: dt.datetime) -> None:
    with runtime.database.unit_of_work() as db:
        refresh_scope(db, scope, now)


def _at(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(12), tzinfo=dt.UTC)


def test_the_report_shows_what_the_last_refresh_rolled_up(
    runtime: Runtime, platform: NewPlatform
) -> None:
    scope = Scope(platform.platform.id, False)
    seed(runtime, scope.platform_id, False, BOOK, roll_up=False)
    assert _report(runtime, scope).requested == 0
    assert _report(runtime, scope).as_of is None

    now = _at(DAY + dt.timedelta(days=20))
    _refresh(runtime, scope, now)
    report = _report(runtime, scope)
    assert report.totals == EXPECTED["totals"]
    assert report.as_of == now
    assert report.covered_from is not None and report.covered_from <= FIRST_DAY


def test_settled_days_are_filled_in_a_chunk_per_refresh_going_back(
    runtime: Runtime, platform: NewPlatform
) -> None:
    scope = Scope(platform.platform.id, False)
    seed(runtime, scope.platform_id, False, BOOK, roll_up=False)
    # Long after the book: its days are settled, beyond the recent ones.
    today = LAST_DAY + dt.timedelta(days=RECENT_DAYS + BACKFILL_DAYS + 10)
    _refresh(runtime, scope, _at(today))
    with runtime.database.read_only() as db:
        state = rollup_state(db, scope)
    assert state is not None
    assert state.covered_from == today - dt.timedelta(days=RECENT_DAYS - 1 + BACKFILL_DAYS)
    assert _report(runtime, scope).requested == 0
    _refresh(runtime, scope, _at(today))
    report = _report(runtime, scope)
    assert report.totals == EXPECTED["totals"]
    assert report.covered_from == FIRST_DAY
    # Once it reaches the first request, a refresh goes no further back.
    _refresh(runtime, scope, _at(today))
    assert _report(runtime, scope).covered_from == FIRST_DAY


def test_a_refresh_of_one_scope_leaves_the_others_alone(
    runtime: Runtime, platform: NewPlatform
) -> None:
    test_scope = Scope(platform.platform.id, False)
    live_scope = Scope(platform.platform.id, True)
    seed(runtime, test_scope.platform_id, False, BOOK, roll_up=False)
    seed(runtime, test_scope.platform_id, True, BOOK, roll_up=False)
    _refresh(runtime, test_scope, _at(DAY + dt.timedelta(days=20)))
    assert _report(runtime, test_scope).requested == len(BOOK)
    assert _report(runtime, live_scope).requested == 0


def test_the_worker_scan_refreshes_every_scope_once_per_interval(
    runtime: Runtime, client: stripe.StripeClient, platform: NewPlatform
) -> None:
    request_relink_email(client, eligible_account(client, platform))
    scope = Scope(platform.platform.id, False)
    make_scan_due(runtime, ROLLUP_SCAN)
    assert (run_rollup_scan(runtime, "worker-a") or 0) >= 2
    assert run_rollup_scan(runtime, "worker-b") is None
    today = scope.now().date()
    with runtime.database.read_only() as db:
        report = outreach_report(db, scope, Period.of(today, today))
    assert report.requested == 1


def test_a_long_period_takes_its_whole_months_from_month_rows_and_its_edges_from_days(
    runtime: Runtime, platform: NewPlatform
) -> None:
    scope = Scope(platform.platform.id, False)
    repaired = [FULL_PATH[-1]]
    # Repaired after 1 h (25 Feb), 2 h (2 Mar), 4 h (6 Apr) and 8 h (2 Jun).
    book = [
        Request(day, 10, NON_OAUTH, "access_expired", ["created", *repaired], "succeeded", hours)
        for day, hours in ((-5, HOUR), (0, 2 * HOUR), (35, 4 * HOUR), (92, 8 * HOUR))
    ]
    seed(runtime, scope.platform_id, False, book)
    period = Period.of(dt.date(2026, 2, 20), dt.date(2026, 6, 5))

    def median() -> float | None:
        with runtime.database.read_only() as db:
            return outreach_report(db, scope, period).median_seconds

    assert median() == 3 * 3600  # (2 h + 4 h) / 2, exact
    with runtime.database.unit_of_work() as db:
        months = {
            row.month: row
            for row in db.scalars(select(OutreachMonth).where(in_scope(OutreachMonth, scope)))
        }
        assert sorted(months) == [dt.date(2026, m, 1) for m in (2, 3, 4, 6)]
        # March, a whole month of the period, is read from its month row …
        months[dt.date(2026, 3, 1)].repair_seconds = {"36000": 1}
        # … February and June, cut by the period, from their days.
        months[dt.date(2026, 2, 1)].repair_seconds = {"999999": 1}
        months[dt.date(2026, 6, 1)].repair_seconds = {"999999": 1}
    assert median() == (4 + 8) / 2 * 3600


def test_a_small_groups_median_is_exact() -> None:
    durations = Durations()
    for seconds in (3600, 10800, 172800):
        durations.add(seconds)
    assert durations.median() == 10800
    durations.add(7200)
    assert durations.median() == (7200 + 10800) / 2
    assert Durations().median() is None
    assert Durations.of(durations.stored()) == durations


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=2, max_value=10**7), min_size=300, max_size=1500))
def test_a_large_groups_median_stays_within_two_percent(values: list[int]) -> None:
    durations = Durations()
    for seconds in values:
        durations.add(seconds)
    merged = Durations()
    half = len(values) // 2
    first, second = Durations(), Durations()
    for seconds in values[:half]:
        first.add(seconds)
    for seconds in values[half:]:
        second.add(seconds)
    merged.merge(first)
    merged.merge(second)
    exact = statistics.median(values)
    for estimate in (durations.median(), merged.median()):
        assert estimate is not None
        assert abs(estimate - exact) <= 0.021 * exact + 0.5
