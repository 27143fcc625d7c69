"""Page objects: Developers → API keys, webhook endpoints, events."""

from __future__ import annotations

from playwright.sync_api import Locator, Page


class ApiKeysPage:
    def __init__(self, page: Page) -> None:
        self.page = page

    def open(self) -> ApiKeysPage:
        self.page.goto("/developers")
        return self

    def create(self, name: str) -> ApiKeysPage:
        self.page.get_by_label("Name of the new key").fill(name)
        self.page.get_by_role("button", name="Create secret key").click()
        self.page.wait_for_load_state()
        return self

    def row(self, text: str) -> Locator:
        return self.page.locator("#api-keys tbody tr", has_text=text)

    def roll(self, text: str) -> ApiKeysPage:
        self.row(text).get_by_role("button", name="Roll").click()
        self.page.wait_for_load_state()
        return self

    def revoke(self, text: str) -> ApiKeysPage:
        """Revoke asks first, on a page of its own: confirm there."""
        self.row(text).get_by_role("link", name="Revoke").click()
        self.page.get_by_role("button", name="Revoke key").click()
        self.page.wait_for_load_state()
        return self

    @property
    def revealed_key(self) -> str:
        return self.page.locator("#revealed-key").inner_text()


class WebhooksPage:
    def __init__(self, page: Page) -> None:
        self.page = page

    def open(self) -> WebhooksPage:
        self.page.goto("/developers/webhooks")
        return self

    def add(self, url: str, *event_types: str) -> WebhookPage:
        self.page.get_by_label("Endpoint URL").fill(url)
        for event_type in event_types or ("All events",):
            self.page.get_by_label(event_type, exact=True).check()
        self.page.get_by_role("button", name="Add endpoint").click()
        self.page.wait_for_load_state()
        return WebhookPage(self.page)


class WebhookPage:
    def __init__(self, page: Page) -> None:
        self.page = page

    def open(self, endpoint_id: str) -> WebhookPage:
        self.page.goto(f"/developers/webhooks/{endpoint_id}")
        return self

    @property
    def endpoint_id(self) -> str:
        return self.page.locator("#endpoint-id").inner_text()

    @property
    def secret(self) -> str:
        return self.page.locator("#endpoint-secret").inner_text()

    @property
    def status(self) -> str:
        """The endpoint's status code (the page shows it in words)."""
        return self.page.locator("#endpoint-status").get_attribute("data-status") or ""

    @property
    def attempts(self) -> Locator:
        return self.page.locator("#attempts tbody tr")

    def press(self, name: str) -> WebhookPage:
        self.page.get_by_role("button", name=name, exact=True).click()
        self.page.wait_for_load_state()
        return self

    def open_roll_secret(self) -> WebhookPage:
        """Follow "Roll secret…" to its confirmation page."""
        self.page.get_by_role("link", name="Roll secret…").click()
        self.page.wait_for_load_state()
        return self

    def confirm_roll_secret(self, expires: str) -> WebhookPage:
        self.page.get_by_label("The current secret expires").select_option(label=expires)
        self.page.get_by_role("button", name="Roll secret", exact=True).click()
        self.page.wait_for_load_state()
        return self

    def resend_first_attempt(self) -> WebhookPage:
        self.attempts.first.get_by_role("button", name="Resend").click()
        self.page.wait_for_load_state()
        return self


class EventsPage:
    def __init__(self, page: Page) -> None:
        self.page = page

    def open(self) -> EventsPage:
        self.page.goto("/developers/events")
        return self

    def filter_type(self, event_type: str) -> EventsPage:
        self.page.get_by_label("Type").select_option(event_type)
        self.page.get_by_role("button", name="Apply").click()
        self.page.wait_for_load_state()
        return self

    @property
    def rows(self) -> Locator:
        return self.page.locator("#events tbody tr")

    def open_first(self) -> str:
        """Open the newest event's page; returns its JSON as shown."""
        self.rows.first.get_by_role("link").click()
        self.page.wait_for_load_state()
        return self.page.locator("#event-json").inner_text()
