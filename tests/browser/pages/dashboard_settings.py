"""Page objects: Settings → Branding and email, Team."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Locator, Page


class SettingsPage:
    def __init__(self, page: Page) -> None:
        self.page = page

    def open(self) -> SettingsPage:
        self.page.goto("/settings")
        return self

    def fill(self, label: str, value: str) -> SettingsPage:
        self.page.get_by_label(label, exact=True).fill(value)
        return self

    def upload_logo(self, path: Path) -> SettingsPage:
        self.page.get_by_label("Logo", exact=True).set_input_files(str(path))
        return self

    def set_hosted_relink(self, enabled: bool) -> SettingsPage:
        self.page.get_by_label("Send hosted relink emails").set_checked(enabled)
        return self

    def save(self) -> SettingsPage:
        self.page.get_by_role("button", name="Save settings").click()
        self.page.wait_for_load_state()
        return self

    def preview(self) -> SettingsPage:
        self.page.get_by_role("button", name="Preview", exact=True).click()
        self.page.wait_for_load_state()
        return self

    def field_error(self, name: str) -> str:
        return self.page.locator(f"#{name}-error").inner_text()

    @property
    def notice(self) -> str:
        return self.page.get_by_role("status").inner_text()


class TeamPage:
    def __init__(self, page: Page) -> None:
        self.page = page

    def open(self) -> TeamPage:
        self.page.goto("/settings/team")
        return self

    def invite(self, email: str, role: str) -> str:
        """Invite; returns the notice the page shows (the link goes only by email)."""
        self.page.get_by_label("Email", exact=True).fill(email)
        self.page.get_by_label("Role", exact=True).select_option(role)
        self.page.get_by_role("button", name="Invite").click()
        self.page.wait_for_load_state()
        return self.page.get_by_role("status").inner_text()

    def resend_invitation(self, email: str) -> str:
        self.row(email).get_by_role("button", name="Resend invitation").click()
        self.page.wait_for_load_state()
        return self.page.get_by_role("status").inner_text()

    def row(self, email: str) -> Locator:
        return self.page.locator("#team tbody tr", has_text=email)

    def change_role(self, email: str, role: str) -> TeamPage:
        row = self.row(email)
        row.get_by_role("combobox").select_option(role)
        row.get_by_role("button", name="Change").click()
        self.page.wait_for_load_state()
        return self

    def remove(self, email: str) -> TeamPage:
        self.row(email).get_by_role("button", name="Remove").click()
        self.page.wait_for_load_state()
        return self


class AutomaticRelinkPage:
    """Settings → Automatic relink: the policy in words and its form."""

    def __init__(self, page: Page) -> None:
        self.page = page

    def open(self) -> AutomaticRelinkPage:
        self.page.goto("/settings/automatic-relink")
        return self

    def turn(self, on: bool) -> AutomaticRelinkPage:
        self.page.get_by_label("On: ask holders" if on else "Off: ask only").check()
        return self

    def fill(self, label: str, value: str) -> AutomaticRelinkPage:
        self.page.get_by_label(label, exact=True).fill(value)
        return self

    def save(self) -> AutomaticRelinkPage:
        self.page.get_by_role("button", name="Save automatic relink").click()
        self.page.wait_for_load_state()
        return self

    @property
    def summary(self) -> list[str]:
        """The policy in words, one sentence a setting."""
        return self.page.locator("#policy-summary li").all_inner_texts()

    @property
    def error_summary(self) -> Locator:
        return self.page.get_by_role("alert")

    def field_error(self, name: str) -> str:
        return self.page.locator(f"#{name}-error").inner_text()

    @property
    def notice(self) -> str:
        return self.page.get_by_role("status").inner_text()
