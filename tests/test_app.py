from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import anyio
import anyio.to_thread
import httpx
import pytest
from sqlalchemy import event, select

from relink.app import create_app
from relink.config import Settings
from relink.models import Customer
from relink.platforms.service import NewPlatform
from relink.runtime import Runtime
from relink.sandbox_bank.testing import free_port
from tests.conftest import RunningServer, start_server


@contextmanager
def server_without_database(settings: Settings) -> Iterator[str]:
    """A Relink server whose database is PostgreSQL on a port nothing listens on."""
    unreachable = f"postgresql+psycopg://relink@127.0.0.1:{free_port()}/relink?connect_timeout=2"
    runtime = Runtime.from_settings(settings.model_copy(update={"database_url": unreachable}))
    server, thread, url = start_server(create_app(runtime=runtime))
    try:
        yield url
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        runtime.database.engine.dispose()


def test_healthz_answers_ok_when_the_database_answers(server: RunningServer) -> None:
    response = httpx.get(f"{server.url}/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_healthz_answers_503_when_the_database_is_unreachable(settings: Settings) -> None:
    with server_without_database(settings) as url:
        response = httpx.get(f"{url}/healthz", timeout=30)
    assert response.status_code == 503
    assert response.json()["status"] == "unavailable"
    assert response.headers["Retry-After"] == "5"
    assert response.headers["Request-Id"].startswith("req_")


def test_api_answers_503_api_error_envelope_when_the_database_is_unreachable(
    settings: Settings,
) -> None:
    with server_without_database(settings) as url:
        response = httpx.get(
            f"{url}/v1/customers", headers={"Authorization": "Bearer sk_test_x"}, timeout=30
        )
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    error = response.json()["error"]
    assert error["type"] == "api_error"
    assert response.headers["Request-Id"] in error["message"]


def test_metrics_report_requests_and_the_outbox_in_prometheus_format(server: RunningServer) -> None:
    httpx.get(server.url + "/healthz")
    response = httpx.get(server.url + "/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert 'relink_http_requests_total{method="GET",route="/healthz",status="200"}' in response.text
    assert "# TYPE relink_outbox_depth gauge" in response.text


def test_bench_hello_route_is_not_served_by_default(server: RunningServer) -> None:
    response = httpx.get(server.url + "/bench/hello")
    assert response.status_code == 404


def test_bench_replay_route_is_not_served_by_default(server: RunningServer) -> None:
    response = httpx.put(server.url + "/bench/replay", json={"statements": [["SELECT 1", {}]]})
    assert response.status_code == 404
    assert httpx.post(server.url + "/bench/replay").status_code == 404


# The replay speaks psycopg's parameter style: only the suite's PostgreSQL variant runs it.
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_bench_replay_issues_the_registered_statements_with_fresh_ids(
    settings: Settings, platform: NewPlatform
) -> None:
    runtime = Runtime.from_settings(settings.model_copy(update={"bench_hello": True}))
    insert = (
        "INSERT INTO customers (id, email, preferred_locales, metadata, deleted, created_at, "
        "livemode, platform_id) VALUES (%(id)s::VARCHAR, %(email)s::VARCHAR, "
        "%(preferred_locales)s::JSON, %(metadata)s::JSON, false, "
        "%(created_at)s::TIMESTAMP WITH TIME ZONE, false, %(platform_id)s::VARCHAR)"
    )
    params = {
        "id": "cus_recorded",
        "email": "replayed@example.com",
        "preferred_locales": "[]",
        "metadata": "{}",
        "created_at": "2026-12-02T18:00:00+00:00",
        "platform_id": platform.platform.id,
    }
    try:
        server, thread, url = start_server(create_app(runtime=runtime))
        try:
            registered = httpx.put(url + "/bench/replay", json={"statements": [[insert, params]]})
            replies = [httpx.post(url + "/bench/replay") for _ in range(3)]
        finally:
            server.should_exit = True
            thread.join(timeout=10)
        with runtime.database.read_only() as db:
            written = list(
                db.scalars(select(Customer.id).where(Customer.email == "replayed@example.com"))
            )
    finally:
        runtime.database.engine.dispose()
    assert registered.status_code == 200
    assert [reply.status_code for reply in replies] == [200, 200, 200]
    assert len(set(written)) == 3  # three rows, each with an id of its own
    assert all(id.startswith("cus_") and id != "cus_recorded" for id in written)


def test_bench_hello_route_answers_hello_when_enabled_for_benchmarks(settings: Settings) -> None:
    runtime = Runtime.from_settings(settings.model_copy(update={"bench_hello": True}))
    try:
        server, thread, url = start_server(create_app(runtime=runtime))
        try:
            response = httpx.get(url + "/bench/hello")
        finally:
            server.should_exit = True
            thread.join(timeout=10)
    finally:
        runtime.database.engine.dispose()
    assert response.status_code == 200
    assert response.text == "hello"


def test_request_handlers_run_on_as_many_threads_as_web_threads_says(settings: Settings) -> None:
    runtime = Runtime.from_settings(settings.model_copy(update={"web_threads": 7}))
    app = create_app(runtime=runtime)

    async def tokens_while_serving() -> float:
        async with app.router.lifespan_context(app):
            return anyio.to_thread.current_default_thread_limiter().total_tokens

    try:
        # On a thread of its own: the test runner's thread may already run an event loop.
        with ThreadPoolExecutor(1) as thread:
            assert thread.submit(anyio.run, tokens_while_serving).result() == 7
    finally:
        runtime.database.engine.dispose()


def test_the_mounted_sandbox_banks_connections_are_closed_when_the_app_stops(
    settings: Settings,
) -> None:
    runtime = Runtime.from_settings(settings)
    app = create_app(runtime=runtime)
    engine = app.state.sandbox_bank_app.state.sandbox_bank.store.engine
    closed: list[object] = []
    event.listen(engine, "close", lambda connection, record: closed.append(connection))

    async def serve_once() -> None:
        async with app.router.lifespan_context(app):
            with engine.connect():  # a pooled connection, as a request to the bank leaves
                pass

    try:
        with ThreadPoolExecutor(1) as thread:
            thread.submit(anyio.run, serve_once).result()
    finally:
        runtime.database.engine.dispose()
    assert len(closed) == 1
