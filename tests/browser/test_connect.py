"""The hosted link flow in real Chromium: linking at Bank (OAuth) through the bank's own
pages, with every link page accessible (axe-core: no serious or critical violations) in
English and German (the picker with the platform's support contact shown)."""

from __future__ import annotations

import pytest
import stripe
from playwright.sync_api import Page

from relink.platforms.service import NewPlatform
from relink.runtime import Runtime
from relink.sandbox_bank.data import accounts_for
from relink.sandbox_bank.institutions import INSTITUTIONS_BY_KEY
from tests.browser.hosted_fixtures import hosted_screenshot, violations_in_both_languages
from tests.browser.pages.hosted import HostedRelinkPage, SandboxBankAuthorizePage
from tests.conftest import RunningServer
from tests.factories import create_customer
from tests.hosted.connect_factories import link_session
from tests.hosted.factories import retrieve_session, set_support_contact

pytestmark = pytest.mark.browser


def test_linking_at_an_oauth_bank_through_its_pages(
    holder_page: Page,
    client: stripe.StripeClient,
    server: RunningServer,
    runtime: Runtime,
    platform: NewPlatform,
) -> None:
    set_support_contact(runtime, platform, "help@acme.example", "https://acme.example/help")
    # A confirmed team address: in test mode the consent receipt is emailed only there.
    customer = create_customer(client, name="Ada Lovelace", email=platform.owner.email)
    # The platform's page the holder returns to (any page this test's server answers).
    return_url = f"{server.url}/healthz"
    session = link_session(client, customer, return_url=return_url)
    hosted = HostedRelinkPage(holder_page).open(session.url)
    assert hosted.heading == "Connect your bank account"
    assert holder_page.locator("p.support").is_visible()
    problems = violations_in_both_languages(holder_page, session.url, "picker")
    hosted_screenshot(holder_page, "link-picker")

    hosted.press("Bank (OAuth)", exact=True)  # not "PSD2 Bank (OAuth)"
    username = customer.id.lower()
    held = {
        a.display_name: a.last4 for a in accounts_for(INSTITUTIONS_BY_KEY["bank_oauth"], username)
    }
    SandboxBankAuthorizePage(holder_page).sign_in(username, "pw").share_only(
        f"Checking ••••{held['Checking']}", f"Savings ••••{held['Savings']}"
    ).allow()
    assert hosted.heading == "Choose the accounts to share"
    problems |= violations_in_both_languages(holder_page, session.url, "accounts")
    hosted_screenshot(holder_page, "link-accounts")

    hosted.press("Continue")
    assert hosted.heading == "Link your accounts"
    problems |= violations_in_both_languages(holder_page, session.url, "consent")
    hosted_screenshot(holder_page, "link-consent")

    hosted.press("Link accounts")
    assert holder_page.url == return_url
    hosted.open(session.url)
    assert hosted.heading == "Your accounts are connected"
    receipt = holder_page.get_by_role("region", name="Your consent receipt")
    assert f"Checking ••••{held['Checking']}; Savings ••••{held['Savings']}" in receipt.inner_text()
    assert "A copy of this receipt is on its way to your email address." in receipt.inner_text()
    problems |= violations_in_both_languages(holder_page, session.url, "success")
    hosted_screenshot(holder_page, "link-success")
    receipt.get_by_role("link", name="See or revoke your consent").click()
    holder_page.wait_for_load_state()
    assert hosted.heading == "Your connections with Acme Lending"
    assert f"Bank (OAuth) ••••{held['Checking']}, ••••{held['Savings']}" in hosted.text
    assert problems == {}
    linked = retrieve_session(client, session.id)
    assert linked.status == "succeeded"
    assert sorted(a.display_name for a in linked.accounts.data) == ["Checking", "Savings"]
