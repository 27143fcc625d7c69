"""The dashboard in real Chromium: every page renders, is accessible (axe), and works."""

from __future__ import annotations

import pytest
import stripe
from playwright.sync_api import Page

from relink.config import Settings
from relink.models import DeliveryState
from relink.outbox.dispatcher import OutboxDispatcher
from relink.platforms.service import NewPlatform
from relink.worker import HANDLERS
from tests.browser.dashboard_fixtures import screenshot, serious_violations
from tests.browser.pages.dashboard_accounts import AccountPage, AccountsPage
from tests.browser.pages.dashboard_login import LoginPage
from tests.dashboard.factories import SCRIPT, broken_account
from tests.email.factories import delivery, eligible_account, request_relink_email
from tests.email.smtp_server import smtp_server
from tests.factories import create_customer, create_test_account, sending_to

pytestmark = pytest.mark.browser


def test_login_page_is_accessible_and_refuses_a_wrong_password(
    anonymous_page: Page, platform: NewPlatform
) -> None:
    login = LoginPage(anonymous_page).open()
    assert serious_violations(anonymous_page) == []
    login.sign_in(platform.owner.email, "wrong password")
    assert "do not match" in login.error
    screenshot(anonymous_page, "login-error")


def test_accounts_page_filters_selects_and_requests_relink(
    dashboard_page: Page, platform: NewPlatform, client: stripe.StripeClient
) -> None:
    broken = broken_account(client, platform.owner.email, name=SCRIPT)
    healthy = create_test_account(client, customer=create_customer(client).id)
    accounts = AccountsPage(dashboard_page).open()
    assert serious_violations(dashboard_page) == []
    screenshot(dashboard_page, "accounts")
    accounts.filter_status("inactive")
    assert accounts.row(broken.id).count() == 1 and accounts.row(healthy.id).count() == 0
    assert SCRIPT in accounts.row(broken.id).inner_text()
    menu = accounts.open_menu(broken.id)
    assert menu.get_by_role("link", name="Request relink").is_visible()
    confirm = accounts.select_all_on_page().request_relink()
    assert confirm.emails == "1 email will go out."
    assert serious_violations(dashboard_page) == []
    screenshot(dashboard_page, "request-confirm")
    job = confirm.confirm()
    assert job.status in ("queued", "running", "succeeded")
    assert serious_violations(dashboard_page) == []
    screenshot(dashboard_page, "request-job")


def test_account_page_requests_a_relink_and_shows_its_timeline(
    dashboard_page: Page, platform: NewPlatform, client: stripe.StripeClient
) -> None:
    account = broken_account(client, platform.owner.email)
    page = AccountPage(dashboard_page).open(account.id)
    assert serious_violations(dashboard_page) == []
    page.request_relink()
    assert "email_queued" in page.history and platform.owner.email in page.history
    notice = dashboard_page.locator("p.notice")
    assert notice.inner_text() == "Relink request created; the email is on its way."
    screenshot(dashboard_page, "account")


@pytest.mark.parametrize(
    "path", ["/customers", "/connected-accounts", "/relink-requests", "/institutions"]
)
def test_list_pages_are_accessible(
    dashboard_page: Page, client: stripe.StripeClient, path: str
) -> None:
    create_customer(client, email="someone@example.com", name=SCRIPT)
    dashboard_page.goto(path)
    assert serious_violations(dashboard_page) == []
    screenshot(dashboard_page, path.strip("/"))


def test_a_given_up_email_is_listed_and_sent_again_from_the_dashboard(
    dashboard_page: Page, platform: NewPlatform, client: stripe.StripeClient, settings: Settings
) -> None:
    session = request_relink_email(client, eligible_account(client, platform))
    with smtp_server() as smtp, sending_to(smtp, settings) as runtime:
        smtp.handler.replies_for[platform.owner.email] = ["550 5.7.1 Relaying denied"]
        OutboxDispatcher(runtime, HANDLERS).drain()

        dashboard_page.goto("/relink-requests")
        given_up = dashboard_page.locator("#given-up")
        assert session.id in given_up.inner_text()
        assert "550 5.7.1 Relaying denied" in given_up.inner_text()
        assert serious_violations(dashboard_page) == []
        screenshot(dashboard_page, "relink-requests-given-up")

        given_up.get_by_role("button", name=f"Send the email of {session.id} again").click()
        dashboard_page.wait_for_url("**/relink-requests*")
        assert "queued to be sent again" in dashboard_page.locator("main").inner_text()
        assert dashboard_page.locator("#given-up").count() == 0

        OutboxDispatcher(runtime, HANDLERS).drain()
        assert len(smtp.handler.to(platform.owner.email)) == 1
        assert delivery(runtime, session.id).state == DeliveryState.sent  # type: ignore[union-attr]
