"""The whole hosted relink story through real parts: the stripe SDK creates a hosted email
relink session → the worker sends the email to a real SMTP server over TCP, in the
holder's language → Chromium follows the link, signs in at the bank with an `mfa`
password and the code → the account is active, its TAN transactable with a new expiry,
the session succeeded, and the webhooks arrived signed."""

from __future__ import annotations

import json
import re

import pytest
import stripe
from playwright.sync_api import Page

from relink.outbox.dispatcher import OutboxDispatcher
from relink.platforms.service import NewPlatform
from tests.browser.pages.hosted import HostedRelinkPage
from tests.email.smtp_server import SmtpServer
from tests.hosted.factories import broken_account, relink_session, retrieve_session
from tests.receivers import webhook_receiver

pytestmark = pytest.mark.browser


@pytest.mark.usefixtures("private_webhooks")
def test_email_to_relinked_account_with_a_one_time_code(
    holder_page: Page,
    platform: NewPlatform,
    client: stripe.StripeClient,
    smtp: SmtpServer,
    smtp_worker: OutboxDispatcher,
) -> None:
    with webhook_receiver() as receiver:
        endpoint = client.v1.webhook_endpoints.create(
            params={"url": receiver.url, "enabled_events": ["*"]}
        )
        customer, account = broken_account(client, platform.owner.email, preferred_locales=["de"])
        before = client.v1.financial_connections.accounts.retrieve(account.id)
        session = relink_session(client, account, delivery_method="email")
        smtp_worker.drain()

        [email] = smtp.handler.to(platform.owner.email)
        message = email.message
        assert "Bank (Non-OAuth)" in str(message["Subject"]) or "Bankkonto" in str(
            message["Subject"]
        )
        text = message.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
        assert f"••••{account.last4}" in text
        assert "Bankpasswort" in text  # German: "we never ask for your bank password by email"
        link = re.search(r"https?://\S+/relink/[A-Za-z0-9_-]+", text)
        assert link is not None

        hosted = HostedRelinkPage(holder_page).open(link.group(0))
        assert holder_page.locator("html").get_attribute("lang") == "de"
        hosted.press("Weiter")
        hosted.sign_in(customer.id.lower(), "secret-mfa")
        hosted.answer("123456")

        after = client.v1.financial_connections.accounts.retrieve(account.id)
        assert after.status == "active"
        assert after.status_details is not None and after.account_numbers is not None
        assert after.status_details.to_dict() == {}
        [number] = [n for n in after.account_numbers if n.status == "transactable"][:1]
        assert number.status == "transactable"
        finished = retrieve_session(client, session.id)
        assert finished.status == "succeeded"
        assert finished.relink_result.account == account.id
        assert finished.relink_result.authorization == account.authorization
        assert before.status == "inactive"

        smtp_worker.drain()
        received = {}
        for delivery in receiver.deliveries:
            event = stripe.Webhook.construct_event(
                delivery.body, delivery.headers["stripe-signature"], endpoint.secret
            )
            received[event.type] = json.loads(delivery.body)
        for expected in (
            "financial_connections.account.reactivated",
            "financial_connections.account.account_numbers_updated",
            "financial_connections.session.updated",
        ):
            assert expected in received
