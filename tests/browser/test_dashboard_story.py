"""The whole story in real Chromium: an operator finds broken accounts, requests relinks,
the worker emails the holders (into the mailbox), a holder follows the link and relinks
at the sandbox bank, and the dashboard shows the account active and the request
succeeded."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import stripe
from playwright.sync_api import Page
from sqlalchemy import select

from relink.kit.crypto import token_digest
from relink.models import Session
from relink.outbox.dispatcher import OutboxDispatcher
from relink.platforms.service import NewPlatform
from relink.worker import HANDLERS
from tests.browser.dashboard_fixtures import screenshot, serious_violations
from tests.browser.pages.dashboard_accounts import AccountPage, AccountsPage
from tests.browser.pages.dashboard_mailbox import MailboxPage
from tests.browser.pages.hosted import HostedRelinkPage
from tests.conftest import RunningServer
from tests.factories import create_customer, create_test_account, deactivate

pytestmark = pytest.mark.browser


@dataclass
class Book:
    eligible: list[str]  # account ids
    no_email: str
    to_disconnect: str
    healthy: str


def book_of_accounts(client: stripe.StripeClient, owner_email: str) -> Book:
    """Broken accounts at "Bank (Non-OAuth)": three emailable (test mode emails only the
    team's confirmed addresses, so their holders use the owner's), one whose holder has
    no email, one that gets disconnected, and a healthy one."""

    def broken(email: str | None, name: str) -> str:
        customer = create_customer(client, name=name, **({"email": email} if email else {}))
        account = create_test_account(client, customer=customer.id)
        deactivate(client, account.id, "access_expired")
        return account.id

    eligible = [broken(owner_email, f"Holder {n}") for n in (1, 2, 3)]
    no_email = broken(None, "Holder without email")
    to_disconnect = broken(owner_email, "Holder who leaves")
    healthy = create_test_account(client, customer=create_customer(client, email=owner_email).id)
    return Book(eligible, no_email, to_disconnect, healthy.id)


def session_of_link(server: RunningServer, url: str) -> Session:
    with server.runtime.database.read_only() as db:
        found = db.scalars(
            select(Session).where(Session.link_token_digest == token_digest(url.rsplit("/", 1)[-1]))
        ).one()
    return found


def test_an_operator_requests_relinks_and_a_holder_reconnects_from_the_email(
    dashboard_page: Page, server: RunningServer, platform: NewPlatform, client: stripe.StripeClient
) -> None:
    page = dashboard_page
    book = book_of_accounts(client, platform.owner.email)

    # Filter the broken accounts and select them all.
    accounts = AccountsPage(page).open().filter_status("inactive")
    for account_id in [*book.eligible, book.no_email, book.to_disconnect]:
        assert accounts.row(account_id).count() == 1, account_id
    assert accounts.row(book.healthy).count() == 0
    accounts.select_all_on_page()
    screenshot(page, "story-1-inactive-selected")
    # Meanwhile one holder ends the connection: the confirmation, computed on request,
    # must skip that account too.
    client.v1.financial_connections.accounts.disconnect(book.to_disconnect)

    confirm = accounts.request_relink()
    assert confirm.emails == "3 emails will go out."
    skipped = page.locator("#skipped").inner_text()
    assert "The account holder has no email address on file." in skipped
    assert "The account was disconnected" in skipped
    assert serious_violations(page) == []
    screenshot(page, "story-2-confirmation")

    job = confirm.confirm()
    assert job.status in ("queued", "running", "succeeded")
    # The worker: runs the bulk job, then sends its emails through the mailbox backend.
    OutboxDispatcher(server.runtime, HANDLERS).drain()
    page.reload()
    assert job.status == "succeeded"
    assert page.locator("#job-created").inner_text() == "3"
    screenshot(page, "story-3-job")

    mailbox = MailboxPage(page).open_from_nav()
    assert mailbox.emails.count() == 3
    assert serious_violations(page) == []
    screenshot(page, "story-4-mailbox")

    holder_tab = mailbox.follow_link(0)
    session = session_of_link(server, holder_tab.url)
    assert session.relink_account_id in book.eligible
    assert session.customer_id is not None
    hosted = HostedRelinkPage(holder_tab)
    assert hosted.heading == "Reconnect your bank account"
    hosted.press("Continue")
    assert hosted.heading == "Sign in to Bank (Non-OAuth)"
    hosted.sign_in(session.customer_id.lower(), "pw-mfa")
    assert hosted.heading == "Your bank needs one more step"
    hosted.answer("123456")
    assert hosted.heading == "Your account is reconnected"
    screenshot(holder_tab, "story-5-holder-reconnected")
    holder_tab.close()

    account = AccountPage(page).open(session.relink_account_id)
    assert page.locator("h1 .badge").inner_text() == "Working"
    history = account.history
    assert "succeeded" in history
    for step in ("created", "email_queued", "email_sent", "opened", "succeeded"):
        assert step in history, step
    screenshot(page, "story-6-account-active")

    page.goto("/relink-requests?status=succeeded")
    assert page.locator("tbody tr", has_text=session.id).count() == 1
    screenshot(page, "story-7-requests")
