"""Connector tests talk to a real sandbox bank over HTTP."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from relink.sandbox_bank import create_sandbox_bank_app
from relink.sandbox_bank.testing import TEST_REDIRECT_URI, serve_in_thread


@pytest.fixture(scope="session")
def bank_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The bank in this process, served by uvicorn on a free port."""
    database = Path(tmp_path_factory.mktemp("connector_bank")) / "bank.db"
    app = create_sandbox_bank_app(
        f"sqlite:///{database}", public_url="http://bank.test", redirect_uris=[TEST_REDIRECT_URI]
    )
    with serve_in_thread(app) as url:
        yield url
    app.state.sandbox_bank.store.dispose()


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    """The client the connector uses (no base URL: connectors build absolute URLs)."""
    with httpx.Client(timeout=10) as client:
        yield client


@dataclass
class Clock:
    """A sandbox clock tests can move, like a platform's shifted test clock."""

    now: datetime

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime(2027, 1, 15, 12, 0, tzinfo=UTC))


@pytest.fixture
def username() -> str:
    return f"holder-{secrets.token_hex(4)}"
