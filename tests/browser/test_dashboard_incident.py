"""An incident in real Chromium: the banner and the release confirmation pass axe, and the
hold is released through the confirmation page, with a notice after the redirect."""

from __future__ import annotations

import pytest
import stripe
from playwright.sync_api import Page

from relink.platforms.service import NewPlatform
from relink.runtime import Runtime
from tests.browser.dashboard_fixtures import screenshot, serious_violations
from tests.institutions.test_incidents import BANK, _accounts, _break, _detect, _held, _scope

pytestmark = pytest.mark.browser


def test_the_banner_and_release_are_accessible_and_release_the_hold(
    dashboard_page: Page, client: stripe.StripeClient, runtime: Runtime, platform: NewPlatform
) -> None:
    _break(client, _accounts(client, BANK, 3))
    scope = _scope(platform)
    _detect(runtime, scope)

    dashboard_page.goto("/accounts")
    banner = dashboard_page.get_by_role("region", name="Possible incident at")
    assert "3 accounts there stopped working" in banner.inner_text()
    assert serious_violations(dashboard_page) == []
    screenshot(dashboard_page, "incident-banner")

    banner.get_by_role("link", name="Release the hold").click()
    assert serious_violations(dashboard_page) == []
    dashboard_page.get_by_role("button", name="Release the hold").click()
    dashboard_page.wait_for_url("**/institutions?notice=incident_released")
    assert "The hold is released" in dashboard_page.get_by_role("status").inner_text()
    assert dashboard_page.get_by_role("region", name="Possible incident at").count() == 0
    assert _held(runtime, scope) == set()
    # Reloading the page after the POST resubmits nothing.
    dashboard_page.reload()
    assert "The hold is released" in dashboard_page.get_by_role("status").inner_text()
