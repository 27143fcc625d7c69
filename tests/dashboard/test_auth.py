"""Signing in and out, throttling, no user enumeration, the mode switch (relink/dashboard/auth.py)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
import stripe
from sqlalchemy import delete, func, select

from relink.app import create_app
from relink.config import Settings
from relink.dashboard import auth
from relink.dashboard.auth import MAX_FAILURES_PER_CLIENT, MAX_FAILURES_PER_EMAIL, email_digest
from relink.models import LoginAttempt, User
from relink.platforms.service import NewPlatform
from tests.conftest import RunningServer, start_server
from tests.dashboard.factories import (
    PASSWORD,
    csrf_of,
    dashboard_client,
    live_account,
    page_csrf,
    sign_in,
    signed_in_client,
)
from tests.factories import create_customer, create_test_account, runtime_with


def test_login_with_the_right_password_sets_an_httponly_lax_cookie(
    server: RunningServer, platform: NewPlatform
) -> None:
    with dashboard_client(server) as client:
        response = sign_in(client, platform.owner.email)
    assert response.status_code == 303
    assert response.headers["location"] == "/accounts"
    cookie = response.headers["set-cookie"]
    assert "relink_dashboard=" in cookie
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie


def test_pages_redirect_to_login_when_signed_out(server: RunningServer) -> None:
    with dashboard_client(server) as client:
        response = client.get("/customers")
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=%2Fcustomers"


def test_login_follows_only_same_site_next_paths(
    server: RunningServer, platform: NewPlatform
) -> None:
    with dashboard_client(server) as client:
        form = client.get("/login")
        response = client.post(
            "/login",
            data={
                "email": platform.owner.email,
                "password": PASSWORD,
                "csrf_token": csrf_of(form.text),
                "next": "//evil.example.com/",
            },
        )
    assert response.headers["location"] == "/accounts"


def test_unknown_email_and_wrong_password_get_the_same_answer(
    server: RunningServer, platform: NewPlatform
) -> None:
    with dashboard_client(server) as client:
        unknown = sign_in(client, "nobody-" + platform.owner.email, PASSWORD)
        wrong = sign_in(client, platform.owner.email, "wrong password")
    assert unknown.status_code == wrong.status_code == 400
    assert "That email and password do not match." in unknown.text
    assert unknown.text.replace("nobody-", "") == wrong.text.replace(
        csrf_of(wrong.text), csrf_of(unknown.text)
    )


def test_login_is_throttled_after_repeated_failures_even_with_the_right_password(
    server: RunningServer, platform: NewPlatform
) -> None:
    with dashboard_client(server) as client:
        for _ in range(MAX_FAILURES_PER_EMAIL):
            assert sign_in(client, platform.owner.email, "wrong password").status_code == 400
        response = sign_in(client, platform.owner.email, PASSWORD)
    assert response.status_code == 429
    assert "Too many failed sign-in attempts" in response.text


def test_login_without_the_form_token_is_refused(
    server: RunningServer, platform: NewPlatform
) -> None:
    with dashboard_client(server) as client:
        response = client.post("/login", data={"email": platform.owner.email, "password": PASSWORD})
    assert response.status_code == 403
    assert "relink_dashboard=" not in response.headers.get("set-cookie", "")


def test_logout_ends_the_login_session(owner: httpx.Client) -> None:
    token = owner.cookies["relink_dashboard"]
    response = owner.post("/logout", data={"csrf_token": page_csrf(owner)})
    assert response.status_code == 303
    owner.cookies.set("relink_dashboard", token)
    assert owner.get("/accounts").status_code == 303


def test_logout_without_the_csrf_token_is_refused(owner: httpx.Client) -> None:
    assert owner.post("/logout").status_code == 403
    assert owner.get("/accounts").status_code == 200


def test_a_platform_without_live_data_opens_in_test_mode(owner: httpx.Client) -> None:
    assert "Test mode: you are viewing test data." in owner.get("/accounts").text


def test_a_platform_with_live_data_opens_in_live_mode_the_first_time(
    server: RunningServer, platform: NewPlatform
) -> None:
    live_account(server.runtime, platform.platform.id)
    client = signed_in_client(server, platform.owner.email)
    try:
        assert "Test mode: you are viewing test data." not in client.get("/accounts").text
    finally:
        client.close()


def test_the_mode_switch_shows_only_that_modes_data(
    server: RunningServer, platform: NewPlatform, owner: httpx.Client, client: stripe.StripeClient
) -> None:
    test_account = create_test_account(client, customer=create_customer(client).id).id
    live = live_account(server.runtime, platform.platform.id)
    in_test = owner.get("/accounts").text
    owner.post("/mode", data={"livemode": "1", "csrf_token": page_csrf(owner), "next": "/accounts"})
    in_live = owner.get("/accounts").text
    assert test_account in in_test and live not in in_test
    assert live in in_live and test_account not in in_live
    assert owner.get(f"/accounts/{test_account}").status_code == 404


def test_the_last_chosen_mode_is_remembered_for_the_next_sign_in(
    server: RunningServer, platform: NewPlatform, owner: httpx.Client
) -> None:
    owner.post("/mode", data={"livemode": "1", "csrf_token": page_csrf(owner)})
    with server.runtime.database.read_only() as db:
        assert db.get(User, platform.owner.id).last_livemode is True  # type: ignore[union-attr]
    again = signed_in_client(server, platform.owner.email)
    try:
        assert "Test mode: you are viewing test data." not in again.get("/accounts").text
    finally:
        again.close()


def test_switching_mode_without_the_csrf_token_is_refused(owner: httpx.Client) -> None:
    assert owner.post("/mode", data={"livemode": "1"}).status_code == 403
    assert "Test mode: you are viewing test data." in owner.get("/accounts").text


def _login_forms(server: RunningServer, count: int) -> list[tuple[httpx.Client, str]]:
    """``count`` browsers, each with the sign-in form open (its CSRF cookie and token)."""
    forms = []
    for _ in range(count):
        client = dashboard_client(server)
        forms.append((client, csrf_of(client.get("/login").text)))
    return forms


def test_parallel_wrong_passwords_get_at_most_the_limit_of_password_checks(
    server: RunningServer, platform: NewPlatform
) -> None:
    # This test is about the per-address limit: start with a client that has no failures
    # (the shared test server has counted every earlier test's wrong passwords from it).
    with server.runtime.database.unit_of_work() as db:
        db.execute(delete(LoginAttempt))
    forms = _login_forms(server, 20)
    start = threading.Barrier(len(forms))

    def attempt(form: tuple[httpx.Client, str]) -> int:
        client, token = form
        start.wait()
        data = {"email": platform.owner.email, "password": "wrong password", "csrf_token": token}
        return client.post("/login", data=data).status_code

    try:
        with ThreadPoolExecutor(max_workers=len(forms)) as pool:
            statuses = sorted(pool.map(attempt, forms))
    finally:
        for client, _ in forms:
            client.close()
    # 400: the password was checked (and was wrong); 429: refused before any check.
    checked = statuses.count(400)
    assert 1 <= checked <= MAX_FAILURES_PER_EMAIL
    assert statuses.count(429) == len(forms) - checked
    # Each checked attempt stays counted; the throttled ones took their rows back.
    with server.runtime.database.read_only() as db:
        counted = db.scalar(
            select(func.count())
            .select_from(LoginAttempt)
            .where(LoginAttempt.email_digest == email_digest(platform.owner.email))
        )
    assert counted == checked


PROXY = "127.0.0.2"


@pytest.fixture
def behind_proxy(settings: Settings) -> Iterator[RunningServer]:
    """A second server on the same database whose load balancer is at :data:`PROXY`."""
    runtime = runtime_with(settings, trusted_proxies=[PROXY])
    uvicorn_server, thread, url = start_server(create_app(runtime=runtime))
    yield RunningServer(url=url, runtime=runtime)
    uvicorn_server.should_exit = True
    thread.join(timeout=10)
    runtime.database.engine.dispose()


def _failures_of(server: RunningServer, client: str) -> int:
    with server.runtime.database.read_only() as db:
        return int(
            db.scalar(
                select(func.count()).select_from(LoginAttempt).where(LoginAttempt.client == client)
            )
            or 0
        )


def _wrong_sign_in(
    server: RunningServer, email: str, forwarded_for: str, *, peer: str = "127.0.0.1"
) -> int:
    """A wrong password sent from ``peer`` with an X-Forwarded-For header."""
    transport = httpx.HTTPTransport(local_address=peer)
    with httpx.Client(base_url=server.url, transport=transport, timeout=20) as client:
        client.headers["x-forwarded-for"] = forwarded_for
        return sign_in(client, email, "wrong password").status_code


def test_behind_a_trusted_proxy_the_client_limit_counts_the_forwarded_address(
    behind_proxy: RunningServer, platform: NewPlatform
) -> None:
    crowded, other = "203.0.113.7", "203.0.113.8"
    with behind_proxy.runtime.database.unit_of_work() as db:
        for n in range(MAX_FAILURES_PER_CLIENT):
            auth.count_attempt(db, f"guess-{n}@example.com", crowded)
    email = platform.owner.email
    assert _wrong_sign_in(behind_proxy, email, f"198.51.100.1, {crowded}", peer=PROXY) == 429
    assert _wrong_sign_in(behind_proxy, email, other, peer=PROXY) == 400
    assert (_failures_of(behind_proxy, other), _failures_of(behind_proxy, PROXY)) == (1, 0)


def test_behind_a_proxy_a_peer_that_is_not_the_proxy_is_its_own_client(
    behind_proxy: RunningServer, platform: NewPlatform
) -> None:
    before = _failures_of(behind_proxy, "127.0.0.1")
    assert _wrong_sign_in(behind_proxy, platform.owner.email, "192.0.2.98") == 400
    assert _failures_of(behind_proxy, "192.0.2.98") == 0
    assert _failures_of(behind_proxy, "127.0.0.1") == before + 1


def test_a_forwarded_address_from_an_untrusted_peer_is_ignored(
    server: RunningServer, platform: NewPlatform
) -> None:
    spoofed = "192.0.2.99"
    before = _failures_of(server, "127.0.0.1")
    assert _wrong_sign_in(server, platform.owner.email, spoofed) == 400
    assert _failures_of(server, spoofed) == 0
    assert _failures_of(server, "127.0.0.1") == before + 1
