"""Browser test fixtures (Chromium through Playwright). Each area adds its fixtures here;
Chromium itself (`dashboard_browser`) is one per test process, from the root conftest."""

from tests.browser.dashboard_fixtures import anonymous_page, dashboard_page
from tests.browser.hosted_fixtures import holder_page

__all__ = ["anonymous_page", "dashboard_page", "holder_page"]
