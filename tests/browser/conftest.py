"""Browser test fixtures (Chromium through Playwright). Each area adds its fixtures here;
Chromium itself (`dashboard_browser`) is one per test process, from the root conftest.

The browser tests run on SQLite only, the engine of ``make run`` (what a person trying
Relink sees): what differs between the engines is below the pages, and the HTTP-level
tests of every page and form run on both (docs/testing.md).
"""

from pathlib import Path

import pytest

from tests.browser.dashboard_fixtures import anonymous_page, dashboard_page
from tests.browser.hosted_fixtures import holder_page

__all__ = ["anonymous_page", "dashboard_page", "holder_page"]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Leave out the PostgreSQL variants of the browser tests (deselected, as ``-k``
    would, not skipped: the engine's variant is not run, not failed)."""
    browser = Path(__file__).parent
    dropped = [
        item
        for item in items
        if browser in item.path.parents
        and getattr(getattr(item, "callspec", None), "params", {}).get("database_url")
        == "postgresql"
    ]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        left_out = set(map(id, dropped))
        items[:] = [item for item in items if id(item) not in left_out]
