from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    """A browser-like HTTP client (own cookie jar, no automatic redirects)."""
    with httpx.Client(timeout=15.0, follow_redirects=False) as client:
        yield client
