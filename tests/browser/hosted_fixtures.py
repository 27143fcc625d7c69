"""Browser fixtures for the hosted relink pages (Chromium shared with the dashboard's)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page

from tests.browser.dashboard_fixtures import SCREENSHOTS, serious_violations
from tests.conftest import RunningServer


@pytest.fixture
def holder_page(dashboard_browser: Browser, server: RunningServer) -> Iterator[Page]:
    """A phone-sized page, as most holders open their email link."""
    context = dashboard_browser.new_context(
        base_url=server.url, viewport={"width": 390, "height": 844}, locale="en-US"
    )
    page = context.new_page()
    yield page
    context.close()


def hosted_screenshot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"hosted-{name}.png"), full_page=True)


def violations_in_both_languages(page: Page, url: str, name: str) -> dict[str, list[str]]:
    """axe on the link's current page in German, then English (which stays chosen)."""
    found = {}
    for code in ("de", "en"):
        page.goto(f"{url}?lang={code}")
        assert page.locator("html").get_attribute("lang") == code
        if problems := serious_violations(page):
            found[f"{name} ({code})"] = problems
    return found
