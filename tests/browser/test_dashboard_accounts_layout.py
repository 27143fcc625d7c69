"""The Accounts page at a laptop's and a phone's width, in real Chromium: no horizontal
scroll (measured), the Eligible column one short answer with its reasons on expand,
states in words with their API code beside them, and axe clean."""

from __future__ import annotations

import pytest
import stripe
from playwright.sync_api import Browser, Page

from relink.platforms.service import NewPlatform
from tests.browser.dashboard_fixtures import screenshot, serious_violations
from tests.browser.pages.dashboard_login import LoginPage
from tests.conftest import RunningServer
from tests.dashboard.factories import PASSWORD, broken_account
from tests.factories import create_customer, create_test_account, deactivate

pytestmark = pytest.mark.browser


def _accounts(client: stripe.StripeClient, email: str) -> None:
    """A page with long names and every kind of row: eligible, not, inactive by cause."""
    broken_account(client, email, name="Bartholomew Featherstonehaugh-Wolfeschlegel")
    holder = create_customer(client, email="a.very.long.address.for.testing@subsidiary.example.com")
    for cause in ("institution_requirement", "account_closed"):
        account = create_test_account(
            client, customer=holder.id, display_name="Everyday Checking With A Long Name"
        )
        deactivate(client, account.id, cause)
    create_test_account(client, customer=create_customer(client).id)


@pytest.mark.parametrize(("width", "height"), [(1280, 800), (390, 844)])
def test_the_accounts_page_has_no_horizontal_scroll(
    dashboard_browser: Browser,
    server: RunningServer,
    platform: NewPlatform,
    client: stripe.StripeClient,
    width: int,
    height: int,
) -> None:
    _accounts(client, platform.owner.email)
    context = dashboard_browser.new_context(
        base_url=server.url, viewport={"width": width, "height": height}
    )
    page = context.new_page()
    try:
        LoginPage(page).open().sign_in(platform.owner.email, PASSWORD)
        page.goto("/accounts")
        scroll, client_width = page.evaluate(
            "[document.documentElement.scrollWidth, document.documentElement.clientWidth]"
        )
        screenshot(page, f"accounts-{width}x{height}")
        assert scroll <= client_width, f"{scroll} px wide in a {client_width} px window"
        assert serious_violations(page) == []
    finally:
        context.close()


def test_the_eligible_column_gives_one_answer_and_its_reasons_on_expand(
    dashboard_page: Page, platform: NewPlatform, client: stripe.StripeClient
) -> None:
    _accounts(client, platform.owner.email)
    dashboard_page.goto("/accounts")
    cells = dashboard_page.locator("td.eligible")
    answers = [cell.locator("summary, .yes").first.inner_text() for cell in cells.all()]
    assert set(answers) <= {"Yes", "No"} and "Yes" in answers and "No" in answers
    refused = dashboard_page.locator("td.eligible details").first
    assert not refused.locator(".reasons").is_visible()
    refused.locator("summary").click()
    assert refused.locator(".reasons li").count() >= 1
    assert refused.locator(".reasons").is_visible()


def test_statuses_read_as_words_with_the_api_code_beside_them(
    dashboard_page: Page, platform: NewPlatform, client: stripe.StripeClient
) -> None:
    _accounts(client, platform.owner.email)
    dashboard_page.goto("/accounts")
    row = dashboard_page.locator("tbody tr", has_text="institution_requirement")
    status = row.locator("td.status")
    assert "Needs the holder to sign in again" in status.inner_text()
    assert status.locator("code.api-code").inner_text() == "inactive · institution_requirement"
