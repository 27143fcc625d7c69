"""Page objects for the hosted relink pages and the sandbox bank's OAuth pages."""

from __future__ import annotations

import re

from playwright.sync_api import Page


class HostedRelinkPage:
    def __init__(self, page: Page) -> None:
        self.page = page

    def open(self, url: str) -> HostedRelinkPage:
        self.page.goto(url)
        return self

    @property
    def heading(self) -> str:
        return self.page.get_by_role("heading", level=1).inner_text()

    @property
    def text(self) -> str:
        return self.page.locator("main").inner_text()

    def press(self, name: str, *, exact: bool = False) -> HostedRelinkPage:
        self.page.get_by_role("button", name=name, exact=exact).click()
        self.page.wait_for_load_state()
        return self

    def repair(self, last4: str) -> HostedRelinkPage:
        """A bundle page's "Repair" of the account ending in ``last4``."""
        self.page.get_by_role("button", name=re.compile(f"••••{last4}$")).click()
        self.page.wait_for_load_state()
        return self

    def sign_in(self, username: str, password: str) -> HostedRelinkPage:
        # By field id, so the same steps work in every language.
        self.page.locator("#username").fill(username)
        self.page.locator("#password").fill(password)
        return self.submit()

    def answer(self, answer: str) -> HostedRelinkPage:
        self.page.locator("#answer").fill(answer)
        return self.submit()

    def submit(self) -> HostedRelinkPage:
        self.page.locator("main form button[type=submit]").first.click()
        self.page.wait_for_load_state()
        return self

    def switch_language(self, name: str) -> HostedRelinkPage:
        self.page.get_by_role("navigation").get_by_role("link", name=name).click()
        self.page.wait_for_load_state()
        return self


class SandboxBankAuthorizePage:
    """The bank's own login → account picker → consent pages (by field and button
    values, so the same steps work in every language the bank speaks)."""

    def __init__(self, page: Page) -> None:
        self.page = page

    def sign_in(self, username: str, password: str) -> SandboxBankAuthorizePage:
        self.page.locator("#username").fill(username)
        self.page.locator("#password").fill(password)
        self.page.locator("button[name=action][value=sign_in]").click()
        self.page.wait_for_load_state()
        return self

    def answer(self, answer: str) -> SandboxBankAuthorizePage:
        """The bank's own challenge (a one-time code, a security answer)."""
        self.page.locator("#answer").fill(answer)
        self.page.locator("form[data-step=challenge] button[type=submit]").click()
        self.page.wait_for_load_state()
        return self

    def share_only(self, *account_labels: str) -> SandboxBankAuthorizePage:
        for box in self.page.get_by_role("checkbox").all():
            box.uncheck()
        for label in account_labels:
            self.page.get_by_label(label).check()
        self.page.locator("form[data-step=accounts] button[type=submit]").click()
        return self

    def allow(self) -> None:
        self.page.locator("button[name=decision][value=allow]").click()
        self.page.wait_for_load_state()
