"""Browser test fixtures (Chromium through Playwright). Each area adds its fixtures here."""

from tests.browser.dashboard_fixtures import anonymous_page, dashboard_browser, dashboard_page
from tests.browser.hosted_fixtures import holder_page

__all__ = ["anonymous_page", "dashboard_browser", "dashboard_page", "holder_page"]
