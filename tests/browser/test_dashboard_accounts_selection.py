"""The Accounts list's selection across pages in real Chromium, with and without
JavaScript: tick on page 1, tick on page 2, the sticky "N selected" bar, Request relink
for all of them; Clear selection; no horizontal scroll with the bar; axe clean."""

from __future__ import annotations

import pytest
import stripe
from playwright.sync_api import Browser

from relink.dashboard import queries
from relink.platforms.service import NewPlatform
from tests.browser.dashboard_fixtures import screenshot, serious_violations
from tests.browser.pages.dashboard_accounts import AccountsPage
from tests.browser.pages.dashboard_login import LoginPage
from tests.conftest import RunningServer
from tests.dashboard.factories import PASSWORD, broken_account

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("javascript", [True, False], ids=["js", "no-js"])
def test_ticks_on_two_pages_make_one_relink_request_from_the_sticky_bar(
    dashboard_browser: Browser,
    server: RunningServer,
    platform: NewPlatform,
    client: stripe.StripeClient,
    monkeypatch: pytest.MonkeyPatch,
    javascript: bool,
) -> None:
    monkeypatch.setattr(queries, "PAGE_SIZE", 2)
    for _ in range(4):
        broken_account(client, platform.owner.email)
    context = dashboard_browser.new_context(
        base_url=server.url, viewport={"width": 1280, "height": 800}, java_script_enabled=javascript
    )
    page = context.new_page()
    try:
        LoginPage(page).open().sign_in(platform.owner.email, PASSWORD)
        accounts = AccountsPage(page).open()
        first = accounts.ids
        accounts.tick(first[0]).next_page()
        second = accounts.ids
        assert not set(first) & set(second)
        assert accounts.selected == "1 selected"
        bar = page.locator("#selection-bar")
        assert bar.evaluate("bar => getComputedStyle(bar).position") == "sticky"
        for account_id in second:
            accounts.tick(account_id)
        if javascript:  # axe runs in the page
            assert serious_violations(page) == []
        confirm = accounts.request_relink_for_selection()
        assert confirm.emails == "3 emails will go out."
        job = confirm.confirm()
        assert job.status
        accounts.open()
        assert page.locator("#selection-bar").count() == 0
    finally:
        context.close()


@pytest.mark.parametrize(("width", "height"), [(1280, 800), (390, 844)])
def test_with_a_selection_the_accounts_page_has_no_horizontal_scroll(
    dashboard_browser: Browser,
    server: RunningServer,
    platform: NewPlatform,
    client: stripe.StripeClient,
    width: int,
    height: int,
) -> None:
    for _ in range(2):
        broken_account(client, platform.owner.email)
    context = dashboard_browser.new_context(
        base_url=server.url, viewport={"width": width, "height": height}
    )
    page = context.new_page()
    try:
        LoginPage(page).open().sign_in(platform.owner.email, PASSWORD)
        accounts = AccountsPage(page).open("sort=expiry")
        for account_id in accounts.ids:
            accounts.tick(account_id)
        # The list's form, sent without a button: the ticks are kept, the list comes back.
        page.evaluate("document.getElementById('bulk').requestSubmit()")
        page.wait_for_load_state()
        assert accounts.selected == "2 selected"
        scroll, client_width = page.evaluate(
            "[document.documentElement.scrollWidth, document.documentElement.clientWidth]"
        )
        screenshot(page, f"accounts-selection-{width}x{height}")
        assert scroll <= client_width, f"{scroll} px wide in a {client_width} px window"
        assert serious_violations(page) == []
        accounts.clear_selection()
        assert page.locator("#selection-bar").count() == 0
        assert "sort=expiry" in page.url
    finally:
        context.close()


def test_at_phone_width_the_list_sorts_by_links_above_the_stacked_rows(
    dashboard_browser: Browser,
    server: RunningServer,
    platform: NewPlatform,
    client: stripe.StripeClient,
) -> None:
    broken_account(client, platform.owner.email)
    context = dashboard_browser.new_context(
        base_url=server.url, viewport={"width": 390, "height": 844}
    )
    page = context.new_page()
    try:
        LoginPage(page).open().sign_in(platform.owner.email, PASSWORD)
        AccountsPage(page).open()
        choices = page.locator("#sort-choices")
        assert choices.is_visible()
        choices.get_by_role("link", name="Last relink request").click()
        page.wait_for_url("**/accounts?sort=-last_request")
        assert "(newest first)" in choices.inner_text()
        assert serious_violations(page) == []
        desktop = dashboard_browser.new_context(
            base_url=server.url, viewport={"width": 1280, "height": 800}
        )
        wide = desktop.new_page()
        LoginPage(wide).open().sign_in(platform.owner.email, PASSWORD)
        AccountsPage(wide).open()
        assert not wide.locator("#sort-choices").is_visible()  # the headers sort there
        desktop.close()
    finally:
        context.close()
