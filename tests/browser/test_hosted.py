"""The hosted relink pages in real Chromium: the two stories end to end, and every page
accessible (axe-core: no serious or critical violations) in English and German."""

from __future__ import annotations

import httpx
import pytest
import stripe
from playwright.sync_api import Page

from relink.kit.i18n import SUPPORTED_LOCALES
from relink.platforms.service import NewPlatform
from tests.browser.dashboard_fixtures import serious_violations
from tests.browser.hosted_fixtures import hosted_screenshot
from tests.browser.pages.hosted import HostedRelinkPage, SandboxBankAuthorizePage
from tests.factories import raw
from tests.hosted.factories import relink_case, relink_session, retrieve_session
from tests.hosted.pages import HostedPages

pytestmark = pytest.mark.browser


def test_credential_bank_with_a_one_time_code_reconnects_the_account(
    holder_page: Page, platform: NewPlatform, client: stripe.StripeClient
) -> None:
    case = relink_case(client, platform.owner.email)
    hosted = HostedRelinkPage(holder_page).open(case.url)
    assert hosted.heading == "Reconnect your bank account"
    hosted_screenshot(holder_page, "landing")
    hosted.press("Continue")
    assert hosted.heading == "Sign in to Bank (Non-OAuth)"
    hosted.sign_in(case.bank_username, "pw-mfa")
    assert hosted.heading == "Your bank needs one more step"
    hosted_screenshot(holder_page, "challenge")
    hosted.answer("123456")
    assert hosted.heading == "Your account is reconnected"
    hosted_screenshot(holder_page, "success")
    session = retrieve_session(client, case.session.id)
    assert (session.status, session.relink_result.account) == ("succeeded", case.account.id)


def test_oauth_bank_needs_the_same_account_and_succeeds_on_retry(
    holder_page: Page, platform: NewPlatform, client: stripe.StripeClient
) -> None:
    case = relink_case(client, platform.owner.email, institution="bank_oauth")
    hosted = HostedRelinkPage(holder_page).open(case.url)
    hosted.press("Continue")
    bank = SandboxBankAuthorizePage(holder_page)
    bank.sign_in(case.bank_username, "pw").share_only("Savings").allow()
    assert hosted.heading == "The account was not shared"
    assert f"••••{case.account.last4}" in hosted.text
    hosted_screenshot(holder_page, "account-needed")
    hosted.press("Try again")
    bank.sign_in(case.bank_username, "pw").share_only(f"Checking ••••{case.account.last4}").allow()
    assert hosted.heading == "Your account is reconnected"
    assert retrieve_session(client, case.session.id).status == "succeeded"


def test_any_username_the_pages_allow_reconnects_and_other_is_a_different_login(
    holder_page: Page, platform: NewPlatform, client: stripe.StripeClient
) -> None:
    # The README's tour, step 3, as the pages word it: any username repairs the
    # connection; a username starting with "other" plays a different login.
    case = relink_case(client, platform.owner.email, institution="bank_oauth")
    hosted = HostedRelinkPage(holder_page).open(case.url)
    hosted.press("Continue")
    bank = SandboxBankAuthorizePage(holder_page)
    assert "whatever username you type signs in to it" in holder_page.locator("main").inner_text()
    bank.sign_in("other-login", "pw").share_only("Savings").allow()
    assert hosted.heading == "The account was not shared"
    hosted.press("Try again")
    label = f"Checking ••••{case.account.last4}"
    bank.sign_in("Ada Lovelace", "pw").share_only(label).allow()
    assert hosted.heading == "Your account is reconnected"
    session = retrieve_session(client, case.session.id)
    assert (session.status, session.relink_result.account) == ("succeeded", case.account.id)


def _pages_in_every_state(
    client: stripe.StripeClient, owner_email: str, http: httpx.Client
) -> dict[str, str]:
    """One link per page the holder can land on (driven over HTTP, which is quicker)."""
    urls: dict[str, str] = {}
    landing = relink_case(client, owner_email, customer_name="<b>Ada</b>")
    urls["landing"] = landing.url
    credentials = relink_case(client, owner_email)
    HostedPages(http, credentials.url).press_continue()
    urls["credentials"] = credentials.url
    challenge = relink_case(client, owner_email)
    pages = HostedPages(http, challenge.url)
    pages.press_continue()
    pages.sign_in(challenge.bank_username, "pw-options")
    urls["challenge (options)"] = challenge.url
    success = relink_case(client, owner_email)
    pages = HostedPages(http, success.url)
    pages.press_continue()
    pages.sign_in(success.bank_username, "pw")
    urls["success"] = success.url
    failed = relink_case(client, owner_email)
    pages = HostedPages(http, failed.url)
    pages.press_continue()
    pages.sign_in(failed.bank_username, "pw-error")
    urls["failed"] = failed.url
    cancelled = relink_case(client, owner_email)
    HostedPages(http, cancelled.url).give_up()
    urls["cancelled"] = cancelled.url
    confirming = relink_case(client, owner_email)
    pages = HostedPages(http, confirming.url)
    pages.open()
    pages.post("cancel")
    urls["cancel confirmation"] = f"{confirming.url}/cancel"
    superseded = relink_case(client, owner_email)
    relink_session(client, superseded.account)
    urls["superseded"] = superseded.url
    needed = relink_case(client, owner_email, institution="bank_oauth")
    pages = HostedPages(http, needed.url)
    pages.through_bank(pages.post("continue"), username="other-login")
    urls["account needed"] = needed.url
    urls["not found"] = needed.url.rsplit("/", 1)[0] + "/" + "A" * 43
    return urls


@pytest.mark.parametrize("code", SUPPORTED_LOCALES)
def test_every_hosted_page_is_accessible(
    holder_page: Page, platform: NewPlatform, client: stripe.StripeClient, code: str
) -> None:
    with httpx.Client(timeout=15.0) as http:
        urls = _pages_in_every_state(client, platform.owner.email, http)
    problems = {}
    for name, url in urls.items():
        holder_page.goto(f"{url}?lang={code}")
        assert holder_page.locator("html").get_attribute("lang") == code
        if name == "success":  # checked with the consent receipt it shows
            assert holder_page.locator("section.receipt dl").count() == 1
        if found := serious_violations(holder_page):
            problems[name] = found
    # A credentials error, the expired page and "Email me a new link" (POST answers).
    hosted = HostedRelinkPage(holder_page).open(f"{urls['credentials']}?lang={code}")
    holder_page.locator("#username").fill("x")
    holder_page.locator("#password").fill("pw-incorrect")
    holder_page.locator("form[action$='/credentials'] button[type=submit]").click()
    if found := serious_violations(holder_page):
        problems["credentials error"] = found
    raw(client, "post", "/v1/test_helpers/clock/advance", seconds=31 * 86_400)
    hosted.open(f"{urls['landing']}?lang={code}")
    if found := serious_violations(holder_page):
        problems["expired"] = found
    holder_page.locator("form[action$='/new-link'] button").click()
    holder_page.wait_for_load_state()
    if found := serious_violations(holder_page):
        problems["new link confirmation"] = found
    holder_page.locator("form[action$='/new-link/confirm'] button").click()
    holder_page.wait_for_load_state()
    assert holder_page.url.endswith("/new-link/sent")
    if found := serious_violations(holder_page):
        problems["new link requested"] = found
    hosted_screenshot(holder_page, f"new-link-{code}")
    assert problems == {}
