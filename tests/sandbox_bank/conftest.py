"""The sandbox bank served over real HTTP (uvicorn in a thread), one per test session.

Tests use fresh usernames, so sharing one bank between them is safe.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from relink.sandbox_bank import create_sandbox_bank_app
from relink.sandbox_bank.testing import TEST_REDIRECT_URI, BankDriver, serve_in_thread


@pytest.fixture(scope="session")
def bank_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    database = Path(tmp_path_factory.mktemp("sandbox_bank")) / "bank.db"
    app = create_sandbox_bank_app(
        f"sqlite:///{database}", public_url="http://bank.test", redirect_uris=[TEST_REDIRECT_URI]
    )
    with serve_in_thread(app) as url:
        yield url
    app.state.sandbox_bank.store.dispose()


@pytest.fixture
def http(bank_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=bank_url, timeout=10) as client:
        yield client


@pytest.fixture
def driver(http: httpx.Client) -> BankDriver:
    return BankDriver(http)


@pytest.fixture
def username() -> str:
    return f"holder-{secrets.token_hex(4)}"


@pytest.fixture
def at() -> Callable[[int], dict[str, str]]:
    """Headers that set the bank's "now" to the given unix time."""
    return lambda moment: {"Relink-Sandbox-Time": str(moment)}
