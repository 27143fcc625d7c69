"""Back and reload after every holder step, in real Chromium: every form of the hosted
pages and of the sandbox bank's pages answers with a redirect to a page that reloads
with a GET. At each step the test reloads, goes Back, reloads there and goes Forward:
no form is sent again, every stop is a page (never "Confirm Form Resubmission"), and
the database holds exactly what the holder's one submission of each form made."""

from __future__ import annotations

import pytest
import stripe
from playwright.sync_api import Page
from sqlalchemy import func, select

from relink.models import Authorization, Session
from relink.platforms.service import NewPlatform
from relink.runtime import Runtime
from tests.browser.history import back_and_reload_show_pages
from tests.browser.pages.hosted import HostedRelinkPage, SandboxBankAuthorizePage
from tests.conftest import RunningServer
from tests.factories import create_customer
from tests.hosted.connect_factories import link_session
from tests.hosted.factories import RelinkCase, hosted_flow, relink_case, retrieve_session

pytestmark = pytest.mark.browser


def _authorizations(runtime: Runtime, customer_id: str) -> int:
    with runtime.database.read_only() as db:
        found = db.scalar(
            select(func.count())
            .select_from(Authorization)
            .where(Authorization.customer_id == customer_id)
        )
        return int(found or 0)


def _sessions(runtime: Runtime, account_id: str) -> int:
    with runtime.database.read_only() as db:
        found = db.scalar(
            select(func.count()).select_from(Session).where(Session.relink_account_id == account_id)
        )
        return int(found or 0)


def _failures(runtime: Runtime, case: RelinkCase) -> int:
    flow = hosted_flow(runtime, case.session.id)
    assert flow is not None
    return flow.credential_failures


def _alert(page: Page) -> str:
    return page.get_by_role("alert").inner_text()


def test_every_step_at_a_credentials_bank_with_a_code_survives_back_and_reload(
    holder_page: Page, platform: NewPlatform, client: stripe.StripeClient, server: RunningServer
) -> None:
    case = relink_case(client, platform.owner.email)
    hosted = HostedRelinkPage(holder_page).open(case.url)
    hosted.press("Continue")
    assert hosted.heading == "Sign in to Bank (Non-OAuth)"
    back_and_reload_show_pages(holder_page)

    hosted.sign_in(case.bank_username, "pw-incorrect")
    assert "did not accept this username and password" in _alert(holder_page)
    back_and_reload_show_pages(holder_page)
    assert "Attempts left: 4." in _alert(holder_page)  # the reloads sent no attempt
    assert _failures(server.runtime, case) == 1

    hosted.sign_in(case.bank_username, "pw-mfa")
    assert hosted.heading == "Your bank needs one more step"
    back_and_reload_show_pages(holder_page)
    hosted.answer("000000")
    assert "did not accept that answer" in _alert(holder_page)
    back_and_reload_show_pages(holder_page)
    assert _failures(server.runtime, case) == 2

    hosted.answer("123456")
    assert hosted.heading == "Your account is reconnected"
    back_and_reload_show_pages(holder_page)
    assert hosted.heading == "Your account is reconnected"
    session = retrieve_session(client, case.session.id)
    assert (session.status, session.relink_result.account) == ("succeeded", case.account.id)
    assert _authorizations(server.runtime, case.customer.id) == 1
    assert _failures(server.runtime, case) == 2


def test_every_step_at_an_oauth_bank_and_its_pages_survives_back_and_reload(
    holder_page: Page, platform: NewPlatform, client: stripe.StripeClient, server: RunningServer
) -> None:
    case = relink_case(client, platform.owner.email, institution="bank_oauth")
    hosted = HostedRelinkPage(holder_page).open(case.url)
    hosted.press("Continue")
    bank = SandboxBankAuthorizePage(holder_page)
    assert hosted.heading == "Sign in to Bank (OAuth)"
    back_and_reload_show_pages(holder_page)

    bank.sign_in(case.bank_username, "")  # refused by the bank's own form check
    assert hosted.heading == "Sign in to Bank (OAuth)"
    bank.sign_in(case.bank_username, "pw-mfa")
    assert hosted.heading == "Verify it's you"
    back_and_reload_show_pages(holder_page)
    bank.answer("000000")
    assert "That is not correct" in _alert(holder_page)
    back_and_reload_show_pages(holder_page)
    bank.answer("123456")
    assert hosted.heading.startswith("Choose the accounts to share with")
    back_and_reload_show_pages(holder_page)

    holder_page.get_by_role("button", name="Continue").click()  # nothing chosen
    holder_page.wait_for_load_state()
    assert "Choose at least one" in _alert(holder_page)
    back_and_reload_show_pages(holder_page)
    bank.share_only(f"Checking ••••{case.account.last4}")
    holder_page.wait_for_load_state()
    assert hosted.heading.startswith("Allow")
    back_and_reload_show_pages(holder_page)

    bank.allow()
    assert hosted.heading == "Your account is reconnected"
    back_and_reload_show_pages(holder_page)
    # Back from Relink's page reaches the bank's page of the finished sign-in.
    holder_page.go_back()
    assert hosted.heading == "This sign-in is finished"
    assert holder_page.locator("form").count() == 0
    holder_page.go_forward()
    assert hosted.heading == "Your account is reconnected"
    session = retrieve_session(client, case.session.id)
    assert (session.status, session.relink_result.account) == ("succeeded", case.account.id)
    assert _authorizations(server.runtime, case.customer.id) == 1


def test_choosing_accounts_at_relink_survives_back_and_reload(
    holder_page: Page, client: stripe.StripeClient, server: RunningServer
) -> None:
    customer = create_customer(client, name="Ada Lovelace")
    session = link_session(client, customer, return_url=f"{server.url}/login")
    hosted = HostedRelinkPage(holder_page).open(str(session.url))
    hosted.press("Bank (Non-OAuth)", exact=True)
    assert hosted.heading == "Sign in to Bank (Non-OAuth)"
    back_and_reload_show_pages(holder_page)
    hosted.sign_in("ada", "pw")
    assert hosted.heading == "Choose the accounts to share"
    back_and_reload_show_pages(holder_page)

    for box in holder_page.get_by_role("checkbox").all():
        box.uncheck()
    hosted.press("Continue")
    assert "Choose at least one" in _alert(holder_page)
    back_and_reload_show_pages(holder_page)
    holder_page.get_by_role("checkbox").first.check()
    hosted.press("Continue")
    assert hosted.heading == "Link your accounts"
    back_and_reload_show_pages(holder_page)

    hosted.press("Link accounts")
    assert holder_page.url == f"{server.url}/login"  # the platform's return URL
    back_and_reload_show_pages(holder_page)
    holder_page.go_back()
    assert hosted.heading == "Your account is connected"
    done = retrieve_session(client, session.id)
    assert (done.status, len(done.accounts.data)) == ("succeeded", 1)
    assert _authorizations(server.runtime, customer.id) == 1


def test_the_error_screens_survive_back_and_reload(
    holder_page: Page, platform: NewPlatform, client: stripe.StripeClient, server: RunningServer
) -> None:
    case = relink_case(client, platform.owner.email)
    hosted = HostedRelinkPage(holder_page).open(case.url)
    # A form that did not come from the page (its token altered): refused, and said so.
    holder_page.locator("form[action$='/continue'] input[name=csrf_token]").evaluate(
        "field => { field.value = 'forged' }"
    )
    hosted.press("Continue")
    assert hosted.heading == "This form has expired"
    back_and_reload_show_pages(holder_page)
    assert hosted_flow(server.runtime, case.session.id) is None

    hosted.open(case.url).press("Continue")
    for _ in range(5):
        hosted.sign_in(case.bank_username, "pw-incorrect")
    assert hosted.heading == "Too many attempts"
    back_and_reload_show_pages(holder_page)
    assert _failures(server.runtime, case) == 5
    hosted.press("Email me a new link")
    assert hosted.heading == "Send a new link?"
    back_and_reload_show_pages(holder_page)
    hosted.press("Send me a new link")
    assert hosted.heading == "Check your email"
    back_and_reload_show_pages(holder_page)
    assert _sessions(server.runtime, case.account.id) == 2  # the one new link

    other = relink_case(client, platform.owner.email)
    hosted.open(other.url).press("Not now, cancel this request")
    assert hosted.heading == "Cancel this request?"
    back_and_reload_show_pages(holder_page)
    hosted.press("Yes, cancel this request")
    assert hosted.heading == "This request was cancelled"
    back_and_reload_show_pages(holder_page)
    assert retrieve_session(client, other.session.id).status == "cancelled"


def test_cancelling_at_the_bank_survives_back_and_reload(
    holder_page: Page, platform: NewPlatform, client: stripe.StripeClient
) -> None:
    case = relink_case(client, platform.owner.email, institution="bank_oauth")
    hosted = HostedRelinkPage(holder_page).open(case.url)
    hosted.press("Continue")
    hosted.press("Cancel")
    assert hosted.heading == "Reconnect your bank account"
    assert "You cancelled signing in at your bank" in holder_page.get_by_role("status").inner_text()
    back_and_reload_show_pages(holder_page)
    assert retrieve_session(client, case.session.id).status == "pending"
    hosted.press("Continue")  # and the holder can start again
    assert hosted.heading == "Sign in to Bank (OAuth)"
