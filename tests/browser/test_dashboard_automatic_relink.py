"""Settings → Automatic relink in real Chromium: the policy in words, its form with an
error summary, accessible (axe), and the same form working without JavaScript."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, Page

from relink.automatic_relink.service import policy_of
from relink.platforms.service import NewPlatform
from relink.tenancy import load_platform_scope
from tests.browser.dashboard_fixtures import screenshot, serious_violations
from tests.browser.pages.dashboard_login import LoginPage
from tests.browser.pages.dashboard_settings import AutomaticRelinkPage
from tests.conftest import RunningServer
from tests.dashboard.factories import PASSWORD

pytestmark = pytest.mark.browser


def test_the_form_refuses_bad_days_with_a_summary_then_saves_and_is_accessible(
    dashboard_page: Page, server: RunningServer, platform: NewPlatform
) -> None:
    policy = AutomaticRelinkPage(dashboard_page).open()
    assert policy.summary[0].startswith("Automatic relink is off")
    assert serious_violations(dashboard_page) == []
    screenshot(dashboard_page, "settings-automatic-relink")
    policy.turn(on=True).fill("Days after the first email", "3, 40").save()
    summary = policy.error_summary
    assert "There is a problem" in summary.inner_text()
    assert "Each of the days after the first email must be from 1 to 30." in policy.field_error(
        "reminder_days"
    )
    # The summary has the focus, and its link moves to the field.
    assert dashboard_page.evaluate("document.activeElement.id") == "error-summary"
    summary.get_by_role("link").click()
    assert dashboard_page.evaluate("document.activeElement.id") == "p-reminder-days"
    assert dashboard_page.get_by_label("Days after the first email").input_value() == "3, 40"
    assert dashboard_page.get_by_label("On: ask holders").is_checked()
    assert serious_violations(dashboard_page) == []
    screenshot(dashboard_page, "settings-automatic-relink-error")
    with server.runtime.database.read_only() as db:
        assert not policy_of(db, load_platform_scope(db, platform.platform.id, False)).enabled
    policy.fill("Days after the first email", "2, 9").fill("Hours", "6").save()
    assert policy.notice == "Automatic relink settings saved for the mode you are viewing."
    assert policy.summary[:3] == [
        "Automatic relink is on: Relink asks holders to repair broken accounts by itself.",
        "Requests go out 6 hours after an account breaks.",
        "Reminders 2 and 9 days after the first email, while the request is pending.",
    ]
    assert serious_violations(dashboard_page) == []


def test_the_form_works_without_javascript(
    dashboard_browser: Browser, server: RunningServer, platform: NewPlatform
) -> None:
    context = dashboard_browser.new_context(base_url=server.url, java_script_enabled=False)
    try:
        page = context.new_page()
        LoginPage(page).open().sign_in(platform.owner.email, PASSWORD)
        policy = AutomaticRelinkPage(page).open()
        policy.fill("Most emails per account", "many").save()
        assert "whole number" in policy.field_error("max_emails_per_account")
        policy.turn(on=True).fill("Most emails per account", "3").fill("Minutes", "15").save()
        assert "settings saved" in policy.notice
        assert "Requests go out 4 hours 15 minutes after an account breaks." in policy.summary
        assert "At most 3 emails per account: the request and its reminders together." in (
            policy.summary
        )
    finally:
        context.close()
    with server.runtime.database.read_only() as db:
        saved = policy_of(db, load_platform_scope(db, platform.platform.id, False))
    assert (saved.enabled, saved.delay_seconds, saved.max_emails_per_account) == (True, 15300, 3)
