"""The brand preview in real Chromium, with and without JavaScript: the draft's email
and landing page with the logo showing, accessible; saved from the preview."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Browser, FrameLocator, Page

from relink.platforms.service import NewPlatform
from tests.browser.dashboard_fixtures import screenshot
from tests.browser.pages.dashboard_login import LoginPage
from tests.browser.pages.dashboard_settings import SettingsPage
from tests.browser.test_dashboard_preferences import violations
from tests.conftest import RunningServer
from tests.dashboard.factories import PASSWORD, png

pytestmark = pytest.mark.browser


def _logo_shows(frame: FrameLocator, selector: str) -> bool:
    """The image has loaded and has a size (a cid: reference never would)."""
    image = frame.locator(selector).first
    image.wait_for()
    width = image.evaluate("image => image.complete ? image.naturalWidth : 0")
    return bool(width)


def _draft_and_preview(page: Page, tmp_path: Path) -> None:
    logo = tmp_path / "logo.png"
    logo.write_bytes(png())
    SettingsPage(page).open().fill("Business name", "Acme Bank").fill(
        "Brand colour", "#aa3300"
    ).upload_logo(logo).preview()


def test_an_owner_previews_a_draft_with_its_logo_then_saves_it(
    dashboard_page: Page, tmp_path: Path
) -> None:
    page = dashboard_page
    _draft_and_preview(page, tmp_path)

    assert page.get_by_role("heading", level=1).inner_text() == "Brand preview"
    assert "Not saved yet" in page.locator("#preview-status").inner_text()
    email = page.frame_locator("iframe[title='The relink email as the holder sees it']")
    landing = page.frame_locator("iframe[title='The landing page as the holder sees it']")
    assert _logo_shows(email, "img[alt='Acme Bank']")
    assert _logo_shows(landing, "img.logo")
    button = landing.get_by_role("button", name="Continue")
    assert button.evaluate("b => getComputedStyle(b).backgroundColor") == "rgb(170, 51, 0)"
    assert violations(page) == []
    screenshot(page, "brand-preview")

    page.get_by_role("button", name="Save these settings").click()
    assert SettingsPage(page).notice == "Saved."
    assert page.get_by_label("Business name", exact=True).input_value() == "Acme Bank"


def test_the_preview_works_without_javascript(
    dashboard_browser: Browser, server: RunningServer, platform: NewPlatform, tmp_path: Path
) -> None:
    context = dashboard_browser.new_context(base_url=server.url, java_script_enabled=False)
    try:
        page = context.new_page()
        LoginPage(page).open().sign_in(platform.owner.email, PASSWORD)
        _draft_and_preview(page, tmp_path)
        assert page.url.split("/settings/preview/")[1]
        assert page.get_by_role("heading", level=1).inner_text() == "Brand preview"
        landing = page.frame_locator("iframe[title='The landing page as the holder sees it']")
        assert "Acme Bank" in landing.locator("body").inner_text()
    finally:
        context.close()
