"""A team user's preferences in real Chromium: German and a time zone chosen on their
account page, then the dashboard in German; accessible in both languages."""

from __future__ import annotations

import re

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page

from relink.platforms.service import NewPlatform
from tests.browser.dashboard_fixtures import screenshot

pytestmark = pytest.mark.browser


def violations(page: Page) -> list[str]:
    """axe-core violations of impact moderate and up (Relink's own pages allow none)."""
    found = []
    for violation in Axe().run(page).response.get("violations", []):
        if violation.get("impact") in ("moderate", "serious", "critical"):
            found += [f"{violation['id']}: {node.get('target')}" for node in violation["nodes"]]
    return found


def test_a_user_chooses_german_and_a_time_zone_on_their_account_page(
    dashboard_page: Page, platform: NewPlatform
) -> None:
    page = dashboard_page
    page.get_by_role("link", name=platform.owner.email).click()
    assert violations(page) == []
    page.get_by_label("Language").select_option("de")
    page.get_by_label("Time zone").select_option("Europe/Berlin")
    page.get_by_role("button", name="Save preferences").click()

    assert page.get_by_role("status").inner_text() == "Ihre Präferenzen wurden gespeichert."
    assert page.locator("html").get_attribute("lang") == "de"
    assert page.get_by_label("Sprache").input_value() == "de"
    assert page.get_by_label("Zeitzone").input_value() == "Europe/Berlin"
    assert violations(page) == []
    screenshot(page, "account-preferences-de")

    page.reload()  # the notice's page reloads without sending the form again
    assert "Ihre Präferenzen" in page.get_by_role("status").inner_text()

    page.get_by_role("link", name="Entwickler").click()
    created = page.locator("table td").filter(has_text=re.compile(r"MES?Z$")).first
    assert re.fullmatch(r"\d\d\.\d\d\.\d{4}, \d\d:\d\d MES?Z", created.inner_text())
    page.get_by_role("link", name="Konten").first.click()
    assert page.get_by_role("heading", level=1).inner_text() == "Konten"
    assert violations(page) == []
    screenshot(page, "accounts-de")
