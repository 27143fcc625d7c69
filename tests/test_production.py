"""RELINK_ENV=production refuses configurations meant for development, and serves with
production's defaults (no sandbox bank, no public metrics, HSTS)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest

from relink.app import create_app
from relink.config import Settings
from relink.production import check_production_settings
from relink.runtime import Runtime
from tests.conftest import start_server

GOOD = {
    "env": "production",
    "secret_key": "a-real-secret-of-enough-length-for-production-use",
    "public_url": "https://relink.example.com",
    "email_backend": "smtp",
    "smtp_host": "smtp.example.com",
    "database_url": "postgresql+psycopg://relink@db/relink",
}


def _settings(**changes: object) -> Settings:
    return Settings(**{**GOOD, **changes}, _env_file=None)  # type: ignore[arg-type]


def test_a_complete_production_configuration_is_accepted() -> None:
    assert check_production_settings(_settings()) is None


@pytest.mark.parametrize(
    ("changes", "names"),
    [
        ({"secret_key": None}, "RELINK_SECRET_KEY"),
        ({"secret_key": "x" * 31}, "RELINK_SECRET_KEY"),
        ({"public_url": "http://relink.example.com"}, "RELINK_PUBLIC_URL"),
        ({"email_backend": "mailbox"}, "RELINK_EMAIL_BACKEND"),
        ({"smtp_host": None}, "RELINK_SMTP_HOST"),
        ({"database_url": "sqlite:///./var/relink.db"}, "RELINK_ALLOW_SQLITE_IN_PRODUCTION"),
        ({"bench_hello": True}, "RELINK_BENCH_HELLO"),
    ],
)
def test_production_refuses_development_settings(changes: dict[str, object], names: str) -> None:
    problem = check_production_settings(_settings(**changes))
    assert problem is not None and names in problem


def test_sqlite_in_production_needs_the_explicit_opt_in() -> None:
    settings = _settings(database_url="sqlite:///./var/relink.db", allow_sqlite_in_production=True)
    assert check_production_settings(settings) is None


def test_development_accepts_anything() -> None:
    assert check_production_settings(Settings(env="development", _env_file=None)) is None


@contextmanager
def production_server(settings: Settings, **changes: object) -> Iterator[str]:
    """Relink as RELINK_ENV=production serves it (on the test database, over plain HTTP:
    TLS is the load balancer's)."""
    production = settings.model_copy(
        update={
            "env": "production",
            "public_url": "https://relink.example.com",
            "secret_key": "a-real-secret-of-enough-length-for-production-use",
            **changes,
        }
    )
    runtime = Runtime.from_settings(production)
    server, thread, url = start_server(create_app(runtime=runtime))
    try:
        yield url
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        runtime.database.engine.dispose()


def test_production_does_not_mount_the_sandbox_bank_unless_enabled(settings: Settings) -> None:
    with production_server(settings) as url:
        assert httpx.get(f"{url}/sandbox-bank/healthz").status_code == 404
    with production_server(settings, sandbox_bank_enabled=True) as url:
        assert httpx.get(f"{url}/sandbox-bank/healthz").status_code == 200


def test_production_answers_carry_hsts(settings: Settings) -> None:
    with production_server(settings) as url:
        response = httpx.get(f"{url}/login")
    assert response.headers["Strict-Transport-Security"].startswith("max-age=63072000")


def test_metrics_are_not_public_in_production_and_open_to_their_token(
    settings: Settings,
) -> None:
    with production_server(settings) as url:
        assert httpx.get(f"{url}/metrics").status_code == 404
    with production_server(settings, metrics_token="scrape-token") as url:
        assert httpx.get(f"{url}/metrics").status_code == 404
        wrong = {"Authorization": "Bearer other"}
        assert httpx.get(f"{url}/metrics", headers=wrong).status_code == 404
        right = {"Authorization": "Bearer scrape-token"}
        scraped = httpx.get(f"{url}/metrics", headers=right)
    assert scraped.status_code == 200
    assert "relink_http_requests_total" in scraped.text
