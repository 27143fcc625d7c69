"""The outreach report in real Chromium: accessible (axe) with its charts, and its period
filter works with JavaScript turned off."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, Page

from relink.platforms.service import NewPlatform
from relink.runtime import Runtime
from tests.browser.dashboard_fixtures import screenshot, serious_violations
from tests.browser.pages.dashboard_login import LoginPage
from tests.conftest import RunningServer
from tests.dashboard.factories import PASSWORD
from tests.sessions.report_book import BOOK, EXPECTED, FIRST_DAY, LAST_DAY, seed

pytestmark = pytest.mark.browser


def test_the_outreach_report_with_its_charts_is_accessible(
    dashboard_page: Page, runtime: Runtime, platform: NewPlatform
) -> None:
    seed(runtime, platform.platform.id, False, BOOK)
    dashboard_page.goto(f"/reports/outreach?since={FIRST_DAY}&until={LAST_DAY}")
    assert dashboard_page.locator("svg.chart").count() == 3
    assert serious_violations(dashboard_page) == []
    screenshot(dashboard_page, "outreach-report")


def test_the_period_filter_works_without_javascript(
    dashboard_browser: Browser, server: RunningServer, runtime: Runtime, platform: NewPlatform
) -> None:
    seed(runtime, platform.platform.id, False, BOOK)
    context = dashboard_browser.new_context(base_url=server.url, java_script_enabled=False)
    try:
        page = context.new_page()
        LoginPage(page).open().sign_in(platform.owner.email, PASSWORD)
        page.goto("/reports/outreach")
        page.get_by_label("From", exact=True).fill(FIRST_DAY.isoformat())
        page.get_by_label("To", exact=True).fill(LAST_DAY.isoformat())
        page.get_by_label("Group by").select_option("week")
        page.get_by_role("button", name="Apply").click()
        total = page.locator("#funnel tfoot td").all_inner_texts()
        assert total == [str(n) for n in EXPECTED["totals"].values()]
        assert page.locator("#funnel tbody tr").count() == 2
    finally:
        context.close()
