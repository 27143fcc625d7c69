"""Browser fixtures for the dashboard: Chromium (the system browser) and a signed-in page."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, Page

from relink.platforms.service import NewPlatform
from tests.browser.pages.dashboard_login import LoginPage
from tests.conftest import RunningServer
from tests.dashboard.factories import PASSWORD

SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"


@pytest.fixture
def dashboard_page(
    dashboard_browser: Browser, server: RunningServer, platform: NewPlatform
) -> Iterator[Page]:
    """A page signed in to the dashboard as the platform's owner."""
    context = dashboard_browser.new_context(
        base_url=server.url, viewport={"width": 1360, "height": 900}
    )
    page = context.new_page()
    LoginPage(page).open().sign_in(platform.owner.email, PASSWORD)
    yield page
    context.close()


@pytest.fixture
def anonymous_page(dashboard_browser: Browser, server: RunningServer) -> Iterator[Page]:
    context = dashboard_browser.new_context(base_url=server.url)
    page = context.new_page()
    yield page
    context.close()


def screenshot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"dashboard-{name}.png"), full_page=True)


def serious_violations(page: Page) -> list[str]:
    """axe-core violations of impact serious or critical, as ``rule: target`` lines."""
    results = Axe().run(page)
    found = []
    for violation in results.response.get("violations", []):
        if violation.get("impact") in ("serious", "critical"):
            for node in violation.get("nodes", []):
                found.append(f"{violation['id']}: {node.get('target')}")
    return found
