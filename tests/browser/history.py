"""Back and reload in real Chromium: what a page's history does after a form.

Every form of Relink's pages (the dashboard, the hosted pages, the sandbox bank's)
answers with a redirect to a page that reloads with a GET, so neither Reload nor Back
sends the form again (no "Confirm Form Resubmission")."""

from __future__ import annotations

from collections.abc import Callable

from playwright.sync_api import Page, Request


def posts_during(page: Page, action: Callable[[], object]) -> list[str]:
    """The URLs of the POST requests the page sends while ``action`` runs."""
    posts: list[str] = []

    def seen(request: Request) -> None:
        if request.method == "POST":
            posts.append(request.url)

    page.on("request", seen)
    try:
        action()
    finally:
        page.remove_listener("request", seen)
    return posts


def back_and_reload_send_nothing(page: Page) -> None:
    """Reload the page a form landed on, go Back, reload there: not one POST."""

    def reload_back_reload() -> None:
        page.reload()
        page.go_back()
        page.reload()
        page.go_forward()

    assert posts_during(page, reload_back_reload) == []


def back_and_reload_show_pages(page: Page) -> None:
    """As :func:`back_and_reload_send_nothing`, and every stop on the way is a page the
    server rendered for a GET (never the browser's resubmission or cache-miss screen),
    ending on the page the form landed on, as it was."""
    heading = page.locator("h1").first.inner_text()
    methods: list[str] = []

    def reload_back_reload() -> None:
        for move in (page.reload, page.go_back, page.reload, page.go_forward):
            response = move()
            assert response is not None, f"{move.__name__} showed no page at {page.url}"
            methods.append(response.request.method)
            assert page.locator("h1").count() > 0, f"no page at {page.url}"

    assert posts_during(page, reload_back_reload) == []
    assert methods == ["GET"] * 4
    assert page.locator("h1").first.inner_text() == heading
