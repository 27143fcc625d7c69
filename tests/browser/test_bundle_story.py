"""One email per holder, in real Chromium: a holder with three broken accounts at two
banks gets one email (at a real SMTP server) from a bulk request, opens its one link,
repairs each connection from the bundle page, and every session ends `succeeded` with
its own webhooks; the bundle page passes axe at every step."""

from __future__ import annotations

import json
import re

import pytest
import stripe
from playwright.sync_api import Page

from relink.outbox.dispatcher import OutboxDispatcher
from relink.platforms.service import NewPlatform
from relink.runtime import Runtime
from tests.browser.dashboard_fixtures import serious_violations
from tests.browser.hosted_fixtures import hosted_screenshot
from tests.browser.pages.hosted import HostedRelinkPage
from tests.email.smtp_server import SmtpServer
from tests.factories import body_of
from tests.hosted.factories import (
    broken_accounts_of_one_holder,
    bundled_sessions_of,
    request_in_bulk,
    retrieve_session,
)
from tests.receivers import webhook_receiver

pytestmark = pytest.mark.browser


@pytest.mark.usefixtures("private_webhooks")
def test_a_holder_repairs_three_accounts_at_two_banks_from_one_email(
    holder_page: Page,
    platform: NewPlatform,
    client: stripe.StripeClient,
    runtime: Runtime,
    smtp: SmtpServer,
    smtp_worker: OutboxDispatcher,
) -> None:
    with webhook_receiver() as receiver:
        endpoint = client.v1.webhook_endpoints.create(
            params={"url": receiver.url, "enabled_events": ["*"]}
        )
        customer, accounts = broken_accounts_of_one_holder(client, platform.owner.email)
        request_in_bulk(runtime, platform.platform.id, [a.id for a in accounts])
        smtp_worker.drain()

        [email] = smtp.handler.asking(platform.owner.email)
        link = re.search(r"https?://\S+/relinks/[A-Za-z0-9_-]+", body_of(email.message))
        assert link is not None
        hosted = HostedRelinkPage(holder_page).open(link.group(0))
        assert hosted.heading == "Reconnect your bank accounts"
        assert "0 of 3 repaired" in hosted.text
        assert serious_violations(holder_page) == []
        hosted_screenshot(holder_page, "bundle")

        for repaired, account in enumerate(accounts, start=1):
            hosted.repair(str(account.last4))
            assert hosted.heading == "Reconnect your bank account"
            hosted.press("Continue")
            hosted.sign_in(str(customer.id).lower(), "pw")
            if repaired < 3:
                assert hosted.heading == "Reconnect your bank accounts"
                assert f"{repaired} of 3 repaired" in hosted.text
                assert serious_violations(holder_page) == []
        assert hosted.heading == "All your accounts are reconnected"
        assert "3 of 3 repaired" in hosted.text
        assert serious_violations(holder_page) == []
        hosted_screenshot(holder_page, "bundle-done")
        hosted.open(f"{link.group(0)}?lang=de")
        assert hosted.heading == "Alle Ihre Konten sind wieder verbunden"
        assert "3 von 3 repariert" in hosted.text
        assert serious_violations(holder_page) == []

        sessions = bundled_sessions_of(runtime, [a.id for a in accounts])
        assert len({s.bundle_id for s in sessions}) == 1
        for session in sessions:
            finished = retrieve_session(client, session.id)
            assert finished.status == "succeeded"
            assert finished.relink_result.account == session.relink_account_id
            assert finished["relink_bundle"] == session.bundle_id
        for account in accounts:
            assert client.v1.financial_connections.accounts.retrieve(account.id).status == (
                "active"
            )

        smtp_worker.drain()
        updated: set[str] = set()
        reactivated: set[str] = set()
        for delivery in receiver.deliveries:
            event = stripe.Webhook.construct_event(
                delivery.body, delivery.headers["stripe-signature"], endpoint.secret
            )
            data = json.loads(delivery.body)["data"]["object"]
            if event.type == "financial_connections.session.updated":
                updated.add(data["id"])
            elif event.type == "financial_connections.account.reactivated":
                reactivated.add(data["id"])
        assert updated >= {s.id for s in sessions}
        assert reactivated >= {a.id for a in accounts}
        # One email asked for all three; each repair then sent its consent receipt.
        assert len(smtp.handler.asking(platform.owner.email)) == 1
        assert len(smtp.handler.to(platform.owner.email)) == 1 + len(accounts)
