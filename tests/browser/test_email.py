"""The relink request email's HTML in real Chromium: accessible (axe-core) in English
and German, and it loads nothing from the network."""

from __future__ import annotations

import pytest
import stripe
from playwright.sync_api import Browser

from relink.accounts.repository import AccountRepository
from relink.email.preview import preview_relink_email
from relink.platforms.service import NewPlatform
from relink.runtime import Runtime
from relink.tenancy import Scope
from tests.browser.dashboard_fixtures import serious_violations
from tests.email.factories import eligible_account

pytestmark = pytest.mark.browser


def email_html(runtime: Runtime, platform: NewPlatform, account_id: str) -> str:
    scope = Scope(platform.platform.id, False)
    with runtime.database.read_only() as db:
        account = AccountRepository(db, scope).get(account_id)
        return preview_relink_email(db, scope, runtime, account).html


@pytest.mark.parametrize("locale", ["en", "de"])
def test_relink_email_html_has_no_serious_accessibility_violations(
    dashboard_browser: Browser,
    client: stripe.StripeClient,
    platform: NewPlatform,
    runtime: Runtime,
    locale: str,
) -> None:
    account = eligible_account(client, platform, preferred_locales=[locale])
    html = email_html(runtime, platform, account.id)
    context = dashboard_browser.new_context(viewport={"width": 420, "height": 900})
    page = context.new_page()
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    try:
        page.set_content(html)

        assert serious_violations(page) == []
        assert requests == []
    finally:
        context.close()
