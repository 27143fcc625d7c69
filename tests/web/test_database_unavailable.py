"""A table lock does not stall the web tier (PostgreSQL): requests that need the locked
tables answer 503 with ``Retry-After`` once their bounded wait ends, giving their pool
connection back, so requests that touch neither table and ``/healthz`` are served."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass

import httpx
import psycopg
import pytest
from sqlalchemy.engine import make_url

from relink.app import create_app
from relink.config import Settings
from relink.platforms.service import NewPlatform
from relink.runtime import Runtime
from tests.conftest import start_server

# Table locks, lock_timeout and statement_timeout are PostgreSQL's.
pytestmark = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)

LOCKED_TABLES = ("accounts", "sessions")
# More requests on the locked tables than the server has pooled connections.
POOL_SIZE, LOCKED_REQUESTS = 2, 6
# A load balancer's patience (generous for a loaded test machine): far below the pool
# timeout of the health test's server, so only the health check's own deadline answers.
HEALTH_CLIENT_TIMEOUT = 30


@dataclass
class BoundedServer:
    url: str
    runtime: Runtime


@contextmanager
def serving(settings: Settings, *, pool_timeout: float) -> Iterator[BoundedServer]:
    """A server of its own on the test database, with a small pool and short bounds."""
    runtime = Runtime.from_settings(
        settings.model_copy(
            update={
                "database_pool_size": POOL_SIZE,
                "database_max_overflow": 0,
                "database_lock_timeout_seconds": 1.0,
                "database_pool_timeout_seconds": pool_timeout,
                "web_threads": 20,
            }
        )
    )
    server, thread, url = start_server(create_app(runtime=runtime))
    try:
        yield BoundedServer(url, runtime)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        runtime.database.engine.dispose()


@pytest.fixture
def bounded_server(settings: Settings) -> Iterator[BoundedServer]:
    with serving(settings, pool_timeout=5.0) as server:
        yield server


@pytest.fixture
def locked(settings: Settings) -> Iterator[None]:
    """Another connection holds ACCESS EXCLUSIVE locks on the tables until the test ends."""
    dsn = make_url(settings.database_url).set(drivername="postgresql")
    with psycopg.connect(dsn.render_as_string(hide_password=False)) as connection:
        for table in LOCKED_TABLES:
            connection.execute(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")
        yield
        connection.rollback()


def test_a_table_lock_answers_503_with_retry_after_and_other_requests_still_succeed(
    bounded_server: BoundedServer, platform: NewPlatform, locked: None
) -> None:
    key = platform.test_secret_key
    with httpx.Client(base_url=bounded_server.url, auth=(key, ""), timeout=60) as client:

        def list_accounts(_: int) -> httpx.Response:
            return client.get("/v1/financial_connections/accounts")

        with ThreadPoolExecutor(LOCKED_REQUESTS + 3) as pool:
            api_calls = list(pool.map(list_accounts, range(LOCKED_REQUESTS)))
            # A well-formed link token of no session: the page must look it up.
            page = pool.submit(client.get, "/relink/" + "x" * 43)
            unrelated = pool.submit(client.get, "/v1/customers")
            health = pool.submit(client.get, "/healthz")
            api_calls.append(list_accounts(0))
        statuses = [r.status_code for r in api_calls]
        assert statuses == [503] * len(api_calls)
        assert {r.headers.get("retry-after") for r in api_calls} == {"5"}
        assert {r.json()["error"]["type"] for r in api_calls} == {"api_error"}
        assert page.result().status_code == 503
        assert page.result().headers["content-type"].startswith("text/html")
        assert page.result().headers.get("retry-after") == "5"
        assert unrelated.result().status_code == 200
        assert health.result().status_code == 200


def test_healthz_answers_503_in_time_while_no_database_connection_can_be_had(
    settings: Settings,
) -> None:
    """Every pooled connection is taken, and a checkout would wait longer than a load
    balancer does: /healthz still answers (the client gives up long before the pool's
    timeout), and it does not answer 200."""
    with serving(settings, pool_timeout=600.0) as server, ExitStack() as held:
        for _ in range(POOL_SIZE):
            held.enter_context(server.runtime.database.engine.connect())
        response = httpx.get(server.url + "/healthz", timeout=HEALTH_CLIENT_TIMEOUT)
        assert response.status_code == 503
        assert response.json()["status"] == "unavailable"
        assert response.headers["Retry-After"] == "5"
        held.close()
        assert httpx.get(server.url + "/healthz", timeout=60).status_code == 200
