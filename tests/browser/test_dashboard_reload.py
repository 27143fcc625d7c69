"""Back and reload after every dashboard form, in real Chromium: each POST redirects to a
page that reloads with a GET, so neither Reload nor Back sends the form again, and the
database holds exactly the objects the one submission made."""

from __future__ import annotations

import pytest
import stripe
from playwright.sync_api import Page
from sqlalchemy import func, select

from relink.models import ApiKey, Event, OutboxMessage, Session, WebhookEndpoint
from relink.platforms.service import NewPlatform
from relink.runtime import Runtime
from relink.sessions.service import RELINK_EMAIL
from relink.webhooks.service import WEBHOOK_DELIVERY
from tests.browser.dashboard_fixtures import screenshot, serious_violations
from tests.browser.history import back_and_reload_send_nothing
from tests.browser.pages.dashboard_accounts import AccountPage
from tests.browser.pages.dashboard_developers import ApiKeysPage, WebhooksPage
from tests.conftest import RunningServer
from tests.email.factories import eligible_account
from tests.factories import create_customer, create_test_account, drain_outbox

pytestmark = pytest.mark.browser


def _keys(server: RunningServer, platform: NewPlatform) -> int:
    with server.runtime.database.read_only() as db:
        found = db.scalar(
            select(func.count())
            .select_from(ApiKey)
            .where(ApiKey.platform_id == platform.platform.id)
        )
        return int(found or 0)


def test_api_key_forms_survive_back_and_reload(
    dashboard_page: Page, server: RunningServer, platform: NewPlatform
) -> None:
    keys = ApiKeysPage(dashboard_page).open()
    before = _keys(server, platform)
    keys.create("Billing server")
    back_and_reload_send_nothing(dashboard_page)
    assert _keys(server, platform) == before + 1
    keys.open().roll("Billing server")
    back_and_reload_send_nothing(dashboard_page)
    assert _keys(server, platform) == before + 2
    keys.open().revoke("Default test key")
    back_and_reload_send_nothing(dashboard_page)
    assert _keys(server, platform) == before + 2


@pytest.mark.usefixtures("private_webhooks")
def test_webhook_endpoint_forms_survive_back_and_reload(
    dashboard_page: Page,
    server: RunningServer,
    platform: NewPlatform,
    client: stripe.StripeClient,
) -> None:
    detail = WebhooksPage(dashboard_page).open().add("http://127.0.0.1:9/hook")
    shown = detail.secret
    back_and_reload_send_nothing(dashboard_page)
    assert _endpoints(server, platform) == 1
    endpoint_id = detail.endpoint_id
    assert dashboard_page.locator("#endpoint-secret").count() == 0  # shown once

    detail.press("Reveal signing secret")
    assert detail.secret == shown
    back_and_reload_send_nothing(dashboard_page)

    detail.open(endpoint_id).open_roll_secret().confirm_roll_secret("in 1 hour")
    rolled = detail.secret
    back_and_reload_send_nothing(dashboard_page)
    detail.open(endpoint_id).press("Reveal signing secret")
    assert detail.secret == rolled  # the reload did not roll again

    create_test_account(client, customer=create_customer(client).id)
    queued = _deliveries(server, endpoint_id)
    detail.open(endpoint_id)
    dashboard_page.get_by_label("Resend an event (id)").fill(_newest_event(server, platform))
    dashboard_page.get_by_role("button", name="Resend", exact=True).click()
    dashboard_page.wait_for_load_state()
    back_and_reload_send_nothing(dashboard_page)
    assert _deliveries(server, endpoint_id) == queued + 1

    detail.open(endpoint_id).press("Disable")
    back_and_reload_send_nothing(dashboard_page)
    assert detail.status == "disabled"

    dashboard_page.get_by_role("link", name="Delete endpoint…").click()
    dashboard_page.get_by_role("button", name="Delete endpoint").click()
    dashboard_page.wait_for_load_state()
    back_and_reload_send_nothing(dashboard_page)
    with server.runtime.database.read_only() as db:
        endpoint = db.get(WebhookEndpoint, endpoint_id)
        assert endpoint is not None and endpoint.deleted


def _endpoints(server: RunningServer, platform: NewPlatform) -> int:
    with server.runtime.database.read_only() as db:
        found = db.scalar(
            select(func.count())
            .select_from(WebhookEndpoint)
            .where(WebhookEndpoint.platform_id == platform.platform.id)
        )
        return int(found or 0)


def _deliveries(server: RunningServer, endpoint_id: str) -> int:
    with server.runtime.database.read_only() as db:
        rows = db.scalars(select(OutboxMessage).where(OutboxMessage.kind == WEBHOOK_DELIVERY))
        return sum(1 for row in rows if row.payload.get("endpoint_id") == endpoint_id)


def _newest_event(server: RunningServer, platform: NewPlatform) -> str:
    with server.runtime.database.read_only() as db:
        found = db.scalar(
            select(Event.id)
            .where(Event.platform_id == platform.platform.id, Event.livemode.is_(False))
            .order_by(Event.id.desc())
            .limit(1)
        )
    assert found is not None
    return found


def test_relink_request_forms_survive_back_and_reload_and_the_page_is_accessible(
    dashboard_page: Page,
    server: RunningServer,
    platform: NewPlatform,
    client: stripe.StripeClient,
    smtp_runtime: Runtime,
) -> None:
    account = eligible_account(client, platform)
    AccountPage(dashboard_page).open(account.id).request_relink()
    back_and_reload_send_nothing(dashboard_page)
    [session_id] = _sessions(server, account.id)
    drain_outbox(smtp_runtime)

    dashboard_page.goto(f"/relink-requests/{session_id}")
    assert serious_violations(dashboard_page) == []
    screenshot(dashboard_page, "relink-request")
    dashboard_page.get_by_role("button", name=f"Resend to {platform.owner.email}").click()
    dashboard_page.wait_for_load_state()
    assert "queued to be sent again" in dashboard_page.locator("main").inner_text()
    back_and_reload_send_nothing(dashboard_page)
    assert _email_rows(server, session_id) == 2

    dashboard_page.get_by_role("link", name="Cancel request…").click()
    assert serious_violations(dashboard_page) == []
    dashboard_page.get_by_role("button", name="Cancel request").click()
    dashboard_page.wait_for_load_state()
    assert dashboard_page.locator("#request-status").inner_text() == "Cancelled"
    back_and_reload_send_nothing(dashboard_page)
    assert _sessions(server, account.id) == [session_id]
    assert serious_violations(dashboard_page) == []


def _sessions(server: RunningServer, account_id: str) -> list[str]:
    with server.runtime.database.read_only() as db:
        return list(db.scalars(select(Session.id).where(Session.relink_account_id == account_id)))


def _email_rows(server: RunningServer, session_id: str) -> int:
    with server.runtime.database.read_only() as db:
        rows = db.scalars(select(OutboxMessage).where(OutboxMessage.kind == RELINK_EMAIL))
        return sum(1 for row in rows if row.payload.get("session_id") == session_id)
