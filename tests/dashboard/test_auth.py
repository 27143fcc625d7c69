"""Signing in and out, throttling, no user enumeration, the mode switch (relink/dashboard/auth.py)."""

from __future__ import annotations

import httpx
import stripe

from relink.dashboard.auth import MAX_FAILURES_PER_EMAIL
from relink.models import User
from relink.platforms.service import NewPlatform
from tests.conftest import RunningServer
from tests.dashboard.conftest import PASSWORD, csrf_of, page_csrf, sign_in, signed_in_client
from tests.dashboard.factories import live_account
from tests.factories import create_customer, create_test_account


def _client(server: RunningServer) -> httpx.Client:
    return httpx.Client(base_url=server.url, follow_redirects=False, timeout=20)


def test_login_with_the_right_password_sets_an_httponly_lax_cookie(
    server: RunningServer, platform: NewPlatform
) -> None:
    with _client(server) as client:
        response = sign_in(client, platform.owner.email)
    assert response.status_code == 303
    assert response.headers["location"] == "/accounts"
    cookie = response.headers["set-cookie"]
    assert "relink_dashboard=" in cookie
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie


def test_pages_redirect_to_login_when_signed_out(server: RunningServer) -> None:
    with _client(server) as client:
        response = client.get("/customers")
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=%2Fcustomers"


def test_login_follows_only_same_site_next_paths(
    server: RunningServer, platform: NewPlatform
) -> None:
    with _client(server) as client:
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
    with _client(server) as client:
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
    with _client(server) as client:
        for _ in range(MAX_FAILURES_PER_EMAIL):
            assert sign_in(client, platform.owner.email, "wrong password").status_code == 400
        response = sign_in(client, platform.owner.email, PASSWORD)
    assert response.status_code == 429
    assert "Too many failed sign-in attempts" in response.text


def test_login_without_the_form_token_is_refused(
    server: RunningServer, platform: NewPlatform
) -> None:
    with _client(server) as client:
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
