"""Page object: the Mailbox (emails the mailbox backend "sent")."""

from __future__ import annotations

from playwright.sync_api import FrameLocator, Locator, Page


class MailboxPage:
    def __init__(self, page: Page) -> None:
        self.page = page

    def open(self, query: str = "") -> MailboxPage:
        self.page.goto("/mailbox" + (f"?{query}" if query else ""))
        return self

    def open_from_nav(self) -> MailboxPage:
        self.page.get_by_role("navigation", name="Main").get_by_role("link", name="Mailbox").click()
        self.page.wait_for_load_state()
        return self

    @property
    def emails(self) -> Locator:
        return self.page.locator("article.email")

    def email_frame(self, index: int = 0) -> FrameLocator:
        return self.emails.nth(index).frame_locator("iframe")

    def follow_link(self, index: int = 0, name: str = "Reconnect your account") -> Page:
        """Click the email's button; it opens in a new tab, as in a webmail."""
        with self.page.context.expect_page() as opened:
            self.email_frame(index).get_by_role("link", name=name).click()
        new_page = opened.value
        new_page.wait_for_load_state()
        return new_page
