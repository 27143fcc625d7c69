"""End-to-end fixtures."""

from __future__ import annotations

import secrets

import pytest


@pytest.fixture
def username() -> str:
    return f"holder-{secrets.token_hex(4)}"
