"""End-to-end fixtures (Chromium, `dashboard_browser`, comes from the root conftest)."""

from __future__ import annotations

import secrets

import pytest


@pytest.fixture
def username() -> str:
    return f"holder-{secrets.token_hex(4)}"
