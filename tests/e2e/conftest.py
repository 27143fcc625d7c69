"""End-to-end fixtures (Chromium's from tests/browser, for the stories driven in it)."""

from __future__ import annotations

import secrets

import pytest

from tests.browser.dashboard_fixtures import dashboard_browser

__all__ = ["dashboard_browser"]


@pytest.fixture
def username() -> str:
    return f"holder-{secrets.token_hex(4)}"
