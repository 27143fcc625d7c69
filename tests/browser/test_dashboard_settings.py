"""Settings pages in real Chromium: branding with logo checks, the team; accessible."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page

from relink.platforms.service import NewPlatform
from relink.runtime import Runtime
from tests.browser.dashboard_fixtures import screenshot, serious_violations
from tests.browser.pages.dashboard_login import LoginPage
from tests.browser.pages.dashboard_settings import SettingsPage, TeamPage
from tests.conftest import RunningServer
from tests.dashboard.factories import PASSWORD, emailed_link, png
from tests.email.smtp_server import SmtpServer

pytestmark = pytest.mark.browser


def test_branding_refuses_a_bad_logo_and_saves_a_png(dashboard_page: Page, tmp_path: Path) -> None:
    settings = SettingsPage(dashboard_page).open()
    assert serious_violations(dashboard_page) == []
    fake = tmp_path / "logo.png"
    fake.write_bytes(b"<svg xmlns='http://www.w3.org/2000/svg'></svg>")
    settings.fill("Business name", "Acme Bank").upload_logo(fake).save()
    assert "must be a PNG" in settings.field_error("logo")
    assert serious_violations(dashboard_page) == []
    screenshot(dashboard_page, "settings-error")
    real = tmp_path / "real.png"
    real.write_bytes(png())
    settings.fill("Brand colour", "#aa3300").upload_logo(real).save()
    assert settings.notice == "Saved."
    assert dashboard_page.get_by_alt_text("Current logo").is_visible()
    screenshot(dashboard_page, "settings")


def test_an_owner_invites_changes_a_role_and_removes_a_user(
    dashboard_page: Page, platform: NewPlatform
) -> None:
    team = TeamPage(dashboard_page).open()
    assert serious_violations(dashboard_page) == []
    email = f"invitee-{platform.platform.id.lower()}@example.com"
    assert "The invitation is on its way" in team.invite(email, "viewer")
    assert "/confirm-email/" not in dashboard_page.content()
    assert serious_violations(dashboard_page) == []
    screenshot(dashboard_page, "team-invitation")
    assert "earlier link no longer works" in team.resend_invitation(email)
    team.change_role(email, "admin")
    assert "admin" in team.row(email).locator("select").input_value()
    team.remove(email)
    assert team.row(email).count() == 0


def test_a_user_changes_their_password_on_their_account_page(
    dashboard_page: Page, platform: NewPlatform
) -> None:
    dashboard_page.get_by_role("link", name=platform.owner.email).click()
    assert dashboard_page.get_by_role("heading", level=1).inner_text() == "Your account"
    assert serious_violations(dashboard_page) == []
    dashboard_page.get_by_label("Current password").fill(PASSWORD)
    dashboard_page.get_by_label("New password").fill("short")
    dashboard_page.get_by_role("button", name="Change password").click()
    assert (
        "Use at least 12 characters." in dashboard_page.locator("#new_password-error").inner_text()
    )
    assert serious_violations(dashboard_page) == []
    screenshot(dashboard_page, "account-password-error")
    dashboard_page.get_by_label("Current password").fill(PASSWORD)
    dashboard_page.get_by_label("New password").fill("a much longer passphrase")
    dashboard_page.get_by_role("button", name="Change password").click()
    assert "Your password was changed" in dashboard_page.get_by_role("status").inner_text()


def test_the_forgotten_password_pages_work_without_javascript_and_are_accessible(
    dashboard_browser: Browser,
    server: RunningServer,
    platform: NewPlatform,
    smtp: SmtpServer,
    smtp_runtime: Runtime,
) -> None:
    context = dashboard_browser.new_context(base_url=server.url, java_script_enabled=False)
    page = context.new_page()
    try:
        page.goto("/login")
        page.get_by_role("link", name="Forgot your password?").click()
        assert (
            serious_violations_without_js(dashboard_browser, server.url + "/forgot-password") == []
        )
        page.get_by_label("Email").fill(platform.owner.email)
        page.get_by_role("button", name="Email me a link").click()
        assert "a link to choose a new password" in page.get_by_role("status").inner_text()
        link = emailed_link(smtp, smtp_runtime, platform.owner.email, "/reset-password/")
        assert serious_violations_without_js(dashboard_browser, link) == []
        page.goto(link)
        page.get_by_label("New password").fill("the new one is long")
        page.get_by_role("button", name="Save the new password").click()
        assert "Sign in with the new one" in page.get_by_role("status").inner_text()
        LoginPage(page).sign_in(platform.owner.email, "the new one is long")
        assert page.url.endswith("/accounts")
    finally:
        context.close()


def serious_violations_without_js(browser: Browser, url: str) -> list[str]:
    """axe needs JavaScript: check the page in a context of its own that runs it."""
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(url)
        screenshot(page, "password-" + url.rstrip("/").split("/")[3])
        return serious_violations(page)
    finally:
        context.close()
