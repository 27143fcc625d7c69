"""Stopping reminders in real Chromium: from the relink landing page's footer to the
reminders page, its button, and the page that says no more reminders come — each page
accessible (axe-core) in every language; and the operator's view of it in the dashboard."""

from __future__ import annotations

import pytest
import stripe
from playwright.sync_api import Page

from relink.kit.i18n import SUPPORTED_LOCALES
from relink.platforms.service import NewPlatform
from tests.browser.dashboard_fixtures import serious_violations
from tests.browser.hosted_fixtures import hosted_screenshot
from tests.conftest import RunningServer
from tests.email.opt_out_factories import opt_outs_of
from tests.hosted.factories import relink_case

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("code", SUPPORTED_LOCALES)
def test_a_holder_stops_reminders_from_the_landing_page(
    holder_page: Page,
    server: RunningServer,
    platform: NewPlatform,
    client: stripe.StripeClient,
    code: str,
) -> None:
    case = relink_case(client, platform.owner.email, delivery_method="email")
    holder_page.goto(f"{case.url}?lang={code}")
    holder_page.locator("footer p.reminders a").click()
    holder_page.wait_for_load_state()
    assert "/reminders/" in holder_page.url
    holder_page.goto(holder_page.url.split("?")[0] + f"?lang={code}")
    assert holder_page.locator("html").get_attribute("lang") == code
    assert serious_violations(holder_page) == []
    assert opt_outs_of(server.runtime, case.customer.id) == []  # opening it changed nothing

    holder_page.locator("form[action$='/stop'] button").click()
    holder_page.wait_for_load_state()

    assert holder_page.locator("form").count() == 0
    assert holder_page.locator("html").get_attribute("lang") == code
    assert serious_violations(holder_page) == []
    hosted_screenshot(holder_page, f"reminders-stopped-{code}")
    [row] = opt_outs_of(server.runtime, case.customer.id)
    assert row.source == "hosted_page"


def test_the_operator_sees_the_opt_out_and_clears_it(
    dashboard_page: Page,
    holder_page: Page,
    server: RunningServer,
    platform: NewPlatform,
    client: stripe.StripeClient,
) -> None:
    case = relink_case(client, platform.owner.email, delivery_method="email")
    holder_page.goto(case.url)
    holder_page.locator("footer p.reminders a").click()
    holder_page.locator("form[action$='/stop'] button").click()
    holder_page.wait_for_load_state()

    dashboard_page.goto(f"/customers/{case.customer.id}")
    assert "Opted out of reminders on" in dashboard_page.locator("#opt-out").inner_text()
    assert serious_violations(dashboard_page) == []
    dashboard_page.get_by_role("link", name="Clear the opt-out…").click()
    assert serious_violations(dashboard_page) == []
    dashboard_page.get_by_role("button", name="Clear the opt-out").click()
    dashboard_page.wait_for_load_state()

    assert "automatic reminders go to this holder again" in dashboard_page.content()
    assert (
        "Automatic reminders go to this holder" in dashboard_page.locator("#opt-out").inner_text()
    )
    [row] = opt_outs_of(server.runtime, case.customer.id)
    assert row.cleared_by == platform.owner.email
