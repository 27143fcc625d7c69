"""Settings pages in real Chromium: branding with logo checks, the team; accessible."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page

from relink.platforms.service import NewPlatform
from tests.browser.dashboard_fixtures import screenshot, serious_violations
from tests.browser.pages.dashboard_settings import SettingsPage, TeamPage
from tests.dashboard.views.test_settings import png

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
    link = team.invite(email, "viewer")
    assert "/confirm-email/" in link
    assert serious_violations(dashboard_page) == []
    screenshot(dashboard_page, "team-invitation")
    team.change_role(email, "admin")
    assert "admin" in team.row(email).locator("select").input_value()
    team.remove(email)
    assert team.row(email).count() == 0
