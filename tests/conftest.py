"""Shared fixtures: a database per engine (SQLite always; PostgreSQL when reachable and
always under CI), a real Relink server on a free port, and platforms to test with.

Every test makes its own platform, so tests are isolated by tenancy and can share
one migrated database per engine.
"""

from __future__ import annotations

import datetime as dt
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
import stripe
import uvicorn
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session
from starlette.types import ASGIApp

from relink.app import create_app
from relink.config import Settings
from relink.institutions.service import register_institutions
from relink.kit import clock
from relink.kit.clock import FrozenClock
from relink.migrate import upgrade
from relink.outbox.dispatcher import OutboxDispatcher
from relink.platforms.service import NewPlatform, create_platform
from relink.runtime import Runtime
from relink.sandbox_bank.testing import STARTUP_SECONDS, free_port
from relink.worker import HANDLERS
from tests.email.smtp_server import SmtpServer, smtp_server
from tests.factories import WireObject, play_outage, play_outage_at_bank, sending_to
from tests.receivers import FakeDns, install_fake_dns

# One Chromium per test process, shared by every folder that drives it: a second
# Playwright started beside the first fails ("Sync API inside the asyncio loop").
pytest_plugins = ["tests.browser.chromium"]

IN_CI = os.environ.get("CI", "").lower() == "true"
DEFAULT_POSTGRES_URL = f"postgresql+psycopg://postgres@127.0.0.1:5432/relink_test_{os.getpid()}"


def _postgres_admin_dsn(url: str) -> tuple[str, str]:
    parsed = make_url(url)
    admin = parsed.set(drivername="postgresql", database="postgres")
    return admin.render_as_string(hide_password=False), str(parsed.database)


def create_postgres_database(url: str) -> None:
    admin, name = _postgres_admin_dsn(url)
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{name}"')


def drop_postgres_database(url: str) -> None:
    admin, name = _postgres_admin_dsn(url)
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def postgres_url() -> str | None:
    """The PostgreSQL URL to test on, or None when PostgreSQL is not reachable (not CI)."""
    url = os.environ.get("RELINK_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL)
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if worker:  # each parallel test process gets a database of its own
        parsed = make_url(url)
        url = parsed.set(database=f"{parsed.database}_{worker}").render_as_string(
            hide_password=False
        )
    admin, _ = _postgres_admin_dsn(url)
    try:
        with psycopg.connect(admin, connect_timeout=3):
            pass
    except psycopg.OperationalError as error:
        if IN_CI:
            pytest.fail(f"PostgreSQL is required under CI and is not reachable: {error}")
        return None
    return url


@pytest.fixture(scope="session", autouse=True)
def cheap_password_hashing() -> Iterator[None]:
    """Tests make a platform (and so hash a password) per test: use argon2's cheapest
    parameters so that costs microseconds, not a second. Verification reads the
    parameters from each hash, so login tests still exercise the real code."""
    from argon2 import PasswordHasher, profiles

    from relink.kit import crypto

    original = crypto._password_hasher
    crypto._password_hasher = PasswordHasher.from_parameters(profiles.CHEAPEST)
    yield
    crypto._password_hasher = original


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("sqlite") / "relink.db"
        sqlite_url = f"sqlite:///{path}"
        upgrade(sqlite_url)
        yield sqlite_url
        return
    url = postgres_url()
    if url is None:
        pytest.skip("PostgreSQL is not reachable (it is required under CI)")
    create_postgres_database(url)
    upgrade(url)
    yield url
    drop_postgres_database(url)


@pytest.fixture(scope="session")
def server_port(database_url: str) -> int:
    """The port the test server will listen on (known up front: links and the mounted
    sandbox bank's URL are built from it)."""
    return free_port()


@pytest.fixture(scope="session")
def settings(
    database_url: str, server_port: int, tmp_path_factory: pytest.TempPathFactory
) -> Settings:
    var_dir = tmp_path_factory.mktemp("var")
    return Settings(
        env="test",
        database_url=database_url,
        secret_key="test-secret-key-for-relink-tests-only",
        var_dir=var_dir,
        public_url=f"http://127.0.0.1:{server_port}",
        webhook_allow_private_networks=False,
        rate_limit_test_per_second=10_000,
        rate_limit_live_per_second=10_000,
        rate_limit_burst=10_000,
        in_process_worker=False,
        _env_file=None,
    )


@pytest.fixture(scope="session")
def runtime(settings: Settings) -> Iterator[Runtime]:
    runtime = Runtime.from_settings(settings)
    with runtime.database.unit_of_work() as session:
        register_institutions(session)
    yield runtime
    # Close pooled connections before the database is dropped; otherwise they are
    # garbage-collected still open (a ResourceWarning, an error under filterwarnings).
    runtime.database.engine.dispose()


@pytest.fixture
def frozen_clock() -> Iterator[FrozenClock]:
    """Relink's clock stopped at now (whole seconds); a test moves it by setting ``at``.
    The clock is process-global and the server runs in this process: always reset it."""
    frozen = FrozenClock(dt.datetime.now(dt.UTC).replace(microsecond=0))
    clock.set_now(frozen)
    yield frozen
    clock.reset()


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    """A real SMTP server (aiosmtpd) on a free port, keeping what it receives."""
    with smtp_server() as server:
        yield server


@pytest.fixture
def smtp_runtime(settings: Settings, smtp: SmtpServer) -> Iterator[Runtime]:
    """A runtime on the test database whose email backend sends to ``smtp``."""
    with sending_to(smtp, settings) as runtime:
        yield runtime


@pytest.fixture
def smtp_worker(smtp_runtime: Runtime) -> OutboxDispatcher:
    """The outbox worker on the test database, its email backend the SMTP server."""
    return OutboxDispatcher(smtp_runtime, HANDLERS)


@pytest.fixture
def private_webhooks(runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    """The operator's opt-in (``RELINK_WEBHOOK_ALLOW_PRIVATE_NETWORKS=true``) for one
    test, for endpoints on this machine's receivers; the default settings keep the SSRF
    guard on."""
    monkeypatch.setattr(runtime.settings, "webhook_allow_private_networks", True)


@pytest.fixture
def fake_dns(monkeypatch: pytest.MonkeyPatch) -> FakeDns:
    """Made-up host names with the addresses a test gives them."""
    return install_fake_dns(monkeypatch)


@dataclass
class RunningServer:
    url: str
    runtime: Runtime


class _ThreadedServer(uvicorn.Server):
    def install_signal_handlers(self) -> None:  # the test runner owns signals
        pass


def start_server(
    app: ASGIApp, port: int | None = None
) -> tuple[_ThreadedServer, threading.Thread, str]:
    port = port or free_port()
    # As `relink serve` runs it: forwarding headers only through RELINK_TRUSTED_PROXIES.
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", lifespan="on", proxy_headers=False
    )
    server = _ThreadedServer(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + STARTUP_SECONDS
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    return server, thread, f"http://127.0.0.1:{port}"


@pytest.fixture(scope="session")
def server(runtime: Runtime, server_port: int) -> Iterator[RunningServer]:
    app = create_app(runtime=runtime)
    uvicorn_server, thread, url = start_server(app, server_port)
    yield RunningServer(url=url, runtime=runtime)
    uvicorn_server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture
def platform(runtime: Runtime) -> NewPlatform:
    """A fresh platform with a confirmed owner and test/live keys."""
    with runtime.database.unit_of_work() as session:
        return make_platform(session)


_platform_counter = 0


def make_platform(session: Session, *, name: str = "Acme Lending") -> NewPlatform:
    global _platform_counter
    _platform_counter += 1
    email = f"owner-{os.getpid()}-{_platform_counter}-{time.monotonic_ns()}@example.com"
    return create_platform(session, name, email, password="correct horse battery")


def stripe_client(server: RunningServer, key: str) -> stripe.StripeClient:
    return stripe.StripeClient(
        key,
        base_addresses={"api": server.url},
        max_network_retries=0,
    )


@pytest.fixture
def client(server: RunningServer, platform: NewPlatform) -> stripe.StripeClient:
    """The official stripe SDK, pointed at Relink, with the platform's test key."""
    return stripe_client(server, platform.test_secret_key)


@pytest.fixture
def outage(
    client: stripe.StripeClient, runtime: Runtime
) -> Iterator[Callable[..., WireObject | None]]:
    """Play an outage of a sandbox institution (:func:`play_outage`): ``outage("down")``;
    ``outage("down", quietly=True)`` plays it at the sandbox bank only, so Relink learns
    of it from its next call to the bank. Institutions are shared by every test: each one
    played is back up afterwards."""
    played: set[str] = set()

    def play(
        status: str, institution: str = "fcinst_bank_non_oauth", *, quietly: bool = False
    ) -> WireObject | None:
        played.add(institution)
        if quietly:
            play_outage_at_bank(runtime, status, institution)
            return None
        return play_outage(client, status, institution)

    yield play
    for institution in sorted(played):
        play_outage(client, "active", institution)


@pytest.fixture
def live_client(server: RunningServer, platform: NewPlatform) -> stripe.StripeClient:
    return stripe_client(server, platform.live_secret_key)


SCHEMA_PATH = Path(__file__).resolve().parent / "reference" / "stripe" / "stripe-fc.schema.json"
