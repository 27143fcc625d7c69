"""Page objects: Accounts list, the Request relink confirmation, one account."""

from __future__ import annotations

from playwright.sync_api import Locator, Page


class AccountsPage:
    def __init__(self, page: Page) -> None:
        self.page = page

    def open(self, query: str = "") -> AccountsPage:
        self.page.goto("/accounts" + (f"?{query}" if query else ""))
        return self

    def filter_status(self, status: str) -> AccountsPage:
        self.page.get_by_label("Status").select_option(status)
        self.page.get_by_role("button", name="Apply").click()
        self.page.wait_for_load_state()
        return self

    def row(self, account_id: str) -> Locator:
        return self.page.locator("tbody tr", has_text=account_id)

    def select_all_on_page(self) -> AccountsPage:
        self.page.get_by_label("Select all on this page").check()
        return self

    def request_relink(self) -> ConfirmRelinkPage:
        self.page.get_by_role("button", name="Request relink…").click()
        self.page.wait_for_load_state()
        return ConfirmRelinkPage(self.page)

    def tick(self, account_id: str) -> AccountsPage:
        self.page.locator(f'input.row-check[value="{account_id}"]').check()
        return self

    @property
    def ids(self) -> list[str]:
        boxes = self.page.locator("input.row-check")
        return [str(boxes.nth(index).get_attribute("value")) for index in range(boxes.count())]

    def next_page(self) -> AccountsPage:
        self.page.locator("#page-next").click()
        self.page.wait_for_load_state()
        return self

    @property
    def selected(self) -> str:
        return self.page.locator("#selected-count").inner_text()

    def request_relink_for_selection(self) -> ConfirmRelinkPage:
        self.page.locator("#selection-request").click()
        self.page.wait_for_url("**/accounts/request-relink?selection=saved")
        return ConfirmRelinkPage(self.page)

    def clear_selection(self) -> AccountsPage:
        self.page.locator("#selection-clear").click()
        self.page.wait_for_load_state()
        return self

    def open_menu(self, account_id: str) -> Locator:
        self.page.get_by_label(f"Actions for {account_id}").click()
        return self.row(account_id).locator(".menu-items")


class ConfirmRelinkPage:
    def __init__(self, page: Page) -> None:
        self.page = page

    @property
    def emails(self) -> str:
        return self.page.locator("#emails-count").inner_text()

    def confirm(self) -> JobPage:
        self.page.locator(".confirm-actions button[type=submit]").click()
        self.page.wait_for_url("**/relink-jobs/*")
        return JobPage(self.page)


class JobPage:
    def __init__(self, page: Page) -> None:
        self.page = page

    @property
    def status(self) -> str:
        """The job's status code (the page shows it in words)."""
        return self.page.locator("#job-status").get_attribute("data-status") or ""


class AccountPage:
    def __init__(self, page: Page) -> None:
        self.page = page

    def open(self, account_id: str) -> AccountPage:
        self.page.goto(f"/accounts/{account_id}")
        return self

    def request_relink(self) -> AccountPage:
        self.page.locator("#relink-panel").get_by_role("button", name="Request relink").click()
        self.page.wait_for_load_state()
        return self

    @property
    def history(self) -> str:
        return self.page.locator("#relink-panel").inner_text()
