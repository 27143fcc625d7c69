"""The holder's consent page in real Chromium: a holder revokes a connection on two
screens; the bank, the platform (its webhook) and the consent history know, and every
page passes axe-core in English and German."""

from __future__ import annotations

import httpx
import pytest
import stripe
from playwright.sync_api import Page

from relink.outbox.dispatcher import OutboxDispatcher
from relink.platforms.service import NewPlatform
from relink.sandbox_bank.store import SANDBOX_CLIENT_NAME
from relink.sandbox_bank.testing import parse_forms
from relink.worker import HANDLERS
from tests.browser.hosted_fixtures import hosted_screenshot, violations_in_both_languages
from tests.browser.pages.hosted import HostedRelinkPage
from tests.conftest import RunningServer
from tests.factories import raw
from tests.hosted.connect_factories import holder_link, linked_at_oauth_bank
from tests.hosted.pages import text_of
from tests.receivers import webhook_receiver

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("private_webhooks")]


def test_a_holder_revokes_a_connection_from_the_consent_page(
    holder_page: Page,
    client: stripe.StripeClient,
    server: RunningServer,
    platform: NewPlatform,
) -> None:
    with webhook_receiver() as receiver, httpx.Client(timeout=15.0) as http:
        endpoint = client.v1.webhook_endpoints.create(
            params={
                "url": receiver.url,
                "enabled_events": ["financial_connections.account.disconnected"],
            }
        )
        session, username = linked_at_oauth_bank(client, http, "Checking")
        [account] = session.accounts.data
        url = holder_link(server.runtime, platform, account.account_holder.customer)

        hosted = HostedRelinkPage(holder_page).open(url)
        assert hosted.heading == "Your connections with Acme Lending"
        assert "Bank (OAuth)" in hosted.text and "Active" in hosted.text
        problems = violations_in_both_languages(holder_page, url, "connections")
        hosted_screenshot(holder_page, "consent-connections")

        hosted.press("Revoke")
        assert hosted.heading == "Revoke your consent?"
        confirm_url = holder_page.url
        problems |= violations_in_both_languages(holder_page, confirm_url, "confirm revoke")
        hosted_screenshot(holder_page, "consent-confirm-revoke")
        assert problems == {}

        hosted.press("Yes, revoke my consent")
        assert holder_page.url == url
        assert "Revoked on" in hosted.text and "Revoke" not in hosted.text.replace("Revoked", "")
        OutboxDispatcher(server.runtime, HANDLERS).drain()

        assert client.v1.financial_connections.accounts.retrieve(account.id).status == (
            "disconnected"
        )
        [delivery] = receiver.deliveries
        event = stripe.Webhook.construct_event(
            delivery.body, delivery.headers["stripe-signature"], endpoint.secret
        )
        assert (event.type, event.data.object.id) == (
            "financial_connections.account.disconnected",
            account.id,
        )
    authorization = raw(
        client, "get", f"/v1/financial_connections/authorizations/{account.authorization}"
    ).to_dict()
    assert [(e["kind"], e["actor"]) for e in authorization["relink_consent_history"]] == [
        ("granted", "holder"),
        ("revoked", "holder"),
    ]
    with httpx.Client(base_url=server.url + "/sandbox-bank/") as bank:
        form = parse_forms(bank.get("security-center").text)[0]
        center = text_of(
            bank.post(
                form.action,
                data={**form.fields, "institution": "bank_oauth", "username": username},
                follow_redirects=True,
            )
        )
    assert SANDBOX_CLIENT_NAME in center and "Revoked" in center
    assert "Revoke access" not in center
