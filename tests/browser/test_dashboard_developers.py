"""Developers pages in real Chromium: keys, webhook endpoints with deliveries, the events
log; each page accessible (axe-core: no serious or critical violations)."""

from __future__ import annotations

import pytest
import stripe
from playwright.sync_api import Page

from relink.outbox.dispatcher import OutboxDispatcher
from relink.platforms.service import NewPlatform
from relink.worker import HANDLERS
from tests.browser.dashboard_fixtures import screenshot, serious_violations
from tests.browser.pages.dashboard_developers import ApiKeysPage, EventsPage, WebhooksPage
from tests.conftest import RunningServer
from tests.dashboard.factories import SCRIPT
from tests.factories import create_customer, create_test_account
from tests.receivers import webhook_receiver

pytestmark = pytest.mark.browser


def test_an_owner_creates_rolls_and_revokes_api_keys(
    dashboard_page: Page, platform: NewPlatform
) -> None:
    keys = ApiKeysPage(dashboard_page).open()
    assert serious_violations(dashboard_page) == []
    keys.create("Billing server")
    plain = keys.revealed_key
    assert plain.startswith("sk_test_")
    assert serious_violations(dashboard_page) == []
    screenshot(dashboard_page, "api-key-created")
    keys.roll("Default test key")
    assert keys.revealed_key.startswith("sk_test_")
    assert "keeps working until" in dashboard_page.locator("#rolled-note").inner_text()
    assert "expiring" in keys.row(platform.test_secret_key[-4:]).inner_text()
    keys.revoke("Billing server")
    assert "revoked" in keys.row("Billing server").inner_text()
    assert plain not in dashboard_page.content()
    screenshot(dashboard_page, "api-keys")


@pytest.mark.usefixtures("private_webhooks")
def test_an_endpoint_receives_events_and_shows_its_attempts_and_resends(
    dashboard_page: Page, server: RunningServer, client: stripe.StripeClient
) -> None:
    with webhook_receiver() as receiver:
        endpoint = WebhooksPage(dashboard_page).open()
        assert serious_violations(dashboard_page) == []
        detail = endpoint.add(receiver.url)
        created_secret = detail.secret
        assert created_secret.startswith("whsec_")
        assert serious_violations(dashboard_page) == []
        create_test_account(client, customer=create_customer(client, name=SCRIPT).id)
        OutboxDispatcher(server.runtime, HANDLERS).drain()
        detail.open(detail.endpoint_id)
        assert detail.attempts.count() == 1
        assert "200" in detail.attempts.first.inner_text()
        detail.resend_first_attempt()
        OutboxDispatcher(server.runtime, HANDLERS).drain()
        detail.open(detail.endpoint_id)
        assert detail.attempts.count() == 2
        assert len(receiver.deliveries) == 2
        assert serious_violations(dashboard_page) == []
        screenshot(dashboard_page, "webhook-endpoint")
        detail.open_roll_secret()
        assert serious_violations(dashboard_page) == []
        detail.confirm_roll_secret("in 1 hour")
        assert detail.secret.startswith("whsec_") and detail.secret != created_secret
        assert (
            "signed with the old secret too" in dashboard_page.locator("#rolled-note").inner_text()
        )
        assert serious_violations(dashboard_page) == []
        dashboard_page.reload()
        assert dashboard_page.locator("#endpoint-secret").count() == 0
        detail.press("Disable")
        assert detail.status == "disabled"


def test_the_events_log_filters_and_shows_escaped_json(
    dashboard_page: Page, client: stripe.StripeClient
) -> None:
    create_test_account(client, customer=create_customer(client).id, display_name=SCRIPT)
    events = EventsPage(dashboard_page).open()
    assert serious_violations(dashboard_page) == []
    screenshot(dashboard_page, "events")
    events.filter_type("financial_connections.account.created")
    assert events.rows.count() == 1
    shown = events.open_first()
    assert '"display_name": "<script>alert(1)</script>"' in shown
    assert serious_violations(dashboard_page) == []
    screenshot(dashboard_page, "event")
