"""The outreach report page: the seeded book's figures as the page shows them, only the
signed-in platform and mode's requests, a bad period refused in words, no script."""

from __future__ import annotations

import re
from html import unescape

import httpx
import pytest
import stripe

from relink.kit.dates import format_day
from relink.platforms.service import NewPlatform
from relink.runtime import Runtime
from tests.conftest import make_platform
from tests.dashboard.factories import page_csrf
from tests.email.factories import eligible_account, request_relink_email
from tests.sessions.report_book import (
    BOOK,
    EXPECTED,
    FIRST_DAY,
    LAST_DAY,
    OUTSIDE,
    Request,
    seed,
)

PERIOD = f"/reports/outreach?since={FIRST_DAY}&until={LAST_DAY}"


@pytest.fixture
def book(runtime: Runtime, platform: NewPlatform) -> None:
    platform_id = platform.platform.id
    seed(runtime, platform_id, False, [*BOOK, OUTSIDE])
    seed(runtime, platform_id, True, BOOK)
    with runtime.database.unit_of_work() as db:
        other = make_platform(db, name="Other Lending").platform.id
    # Another platform's request at a bank the book does not use.
    seed(
        runtime,
        other,
        False,
        [*BOOK, Request(2, 9, "fcinst_test_oauth", "unspecified", ["created"])],
    )


def _in_mode(owner: httpx.Client, *, live: bool) -> httpx.Client:
    """The owner's dashboard in test or live mode (a platform with live accounts opens
    in live mode)."""
    csrf = page_csrf(owner, "/accounts")
    owner.post("/mode", data={"livemode": "1" if live else "0", "csrf_token": csrf})
    return owner


@pytest.fixture
def tester(owner: httpx.Client, book: None) -> httpx.Client:
    return _in_mode(owner, live=False)


def _rows(html: str, table_id: str) -> dict[str, list[str]]:
    """A table's rows by their first cell: the other cells' text."""
    found = re.search(rf'<table[^>]*id="{table_id}"[^>]*>(.*?)</table>', html, re.S)
    assert found, f"no table {table_id}"
    rows: dict[str, list[str]] = {}
    for row in re.findall(r"<tr>(.*?)</tr>", found.group(1), re.S):
        cells = [
            " ".join(unescape(re.sub(r"<[^>]+>", " ", c)).split())
            for c in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S)
        ]
        rows[cells[0]] = cells[1:]
    return rows


def test_the_page_shows_the_books_funnel_by_week(tester: httpx.Client) -> None:
    page = tester.get(PERIOD + "&by=week")
    assert page.status_code == 200
    rows = _rows(page.text, "funnel")
    for start, counts in EXPECTED["by_week"].items():
        day = format_day(start, locale="en", time_zone="UTC")  # the dashboard's one style
        assert rows[day] == [str(n) for n in counts]
    assert rows["Total"] == [str(n) for n in EXPECTED["totals"].values()]


def test_the_page_shows_repairs_by_institution_and_by_reason(tester: httpx.Client) -> None:
    html = tester.get(PERIOD).text
    assert _rows(html, "by-institution") == {
        "Institution": ["Requested", "Repaired", "Repair rate", "Median time to repair"],
        "Bank (Non-OAuth)": ["3", "2", "67%", "2 h 0 min"],
        "Bank (OAuth)": ["2", "1", "50%", "2 d 0 h"],
    }
    reasons = _rows(html, "by-reason")
    assert reasons["Consent expired"] == ["3", "3", "100%", "3 h 0 min"]
    assert reasons["Account number expiring"] == ["1", "0", "0%", "—"]
    assert reasons["Access revoked"] == ["1", "0", "0%", "—"]
    assert "Test (OAuth)" not in html  # the other platform's bank


def test_the_summary_has_emails_per_repaired_account_and_the_median(tester: httpx.Client) -> None:
    text = " ".join(unescape(re.sub(r"<[^>]+>", " ", tester.get(PERIOD).text)).split())
    assert "Repair rate 60%" in text
    assert "Median time to repair 3 h 0 min" in text
    assert "Emails per repaired account 2.0 (6 emails, 3 repaired accounts)" in text


def test_each_chart_is_inline_svg_with_a_title_and_no_script(tester: httpx.Client) -> None:
    html = tester.get(PERIOD).text
    for chart, title in (
        ("chart-funnel", "Funnel over time"),
        ("chart-institution", "Repair rate by institution"),
        ("chart-reason", "Repair rate by reason"),
    ):
        assert re.search(rf'<svg class="chart" id="{chart}" role="img"', html)
        assert f'<title id="{chart}-title">{title}</title>' in html
    assert not re.search(r"<script[^>]+src=\"https?:", html)


@pytest.mark.usefixtures("book")
def test_live_mode_shows_only_the_live_requests(owner: httpx.Client) -> None:
    html = _in_mode(owner, live=True).get(PERIOD).text
    assert _rows(html, "funnel")["Total"] == [str(n) for n in EXPECTED["totals"].values()]
    # The live book's sessions name test-mode institutions, which live mode does not know.
    assert "Bank (Non-OAuth)" not in html


def test_the_default_period_is_the_last_30_days_by_day(owner: httpx.Client) -> None:
    page = owner.get("/reports/outreach")
    assert page.status_code == 200
    rows = _rows(page.text, "funnel")
    assert len(rows) == 1 + 30 + 1  # the heading, 30 days, the total


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("since=2026-03-05&until=2026-03-01", "The period's end is before its start."),
        ("since=yesterday", "Dates must be given as YYYY-MM-DD."),
        ("since=2026-03-01&by=hour", "Group by must be day, week or month."),
        ("since=2020-01-01&until=2026-01-01", "A report covers at most two years."),
    ],
)
def test_a_period_the_report_cannot_cover_is_refused_in_words(
    owner: httpx.Client, query: str, message: str
) -> None:
    page = owner.get(f"/reports/outreach?{query}")
    assert page.status_code == 400
    assert f'<p class="error" role="alert" id="period-error">{unescape(message)}' in unescape(
        page.text
    )


def test_the_dashboard_says_how_fresh_and_brings_it_up_to_date_on_request(
    runtime: Runtime, client: stripe.StripeClient, platform: NewPlatform, owner: httpx.Client
) -> None:
    request_relink_email(client, eligible_account(client, platform))
    before = owner.get("/reports/outreach?by=month")
    assert "The figures have not been computed yet" in before.text
    csrf = page_csrf(owner, "/reports/outreach")
    refused = owner.post("/reports/outreach/refresh", data={"next": "/reports/outreach"})
    assert refused.status_code == 403
    done = owner.post(
        "/reports/outreach/refresh", data={"csrf_token": csrf, "next": "/reports/outreach?by=month"}
    )
    assert done.status_code == 303 and done.headers["location"] == "/reports/outreach?by=month"
    after = owner.get(done.headers["location"]).text
    assert "Figures as of" in after
    # Only back to the report: another target is not followed.
    away = owner.post(
        "/reports/outreach/refresh", data={"csrf_token": csrf, "next": "https://evil.example/"}
    )
    assert away.headers["location"] == "/reports/outreach"
