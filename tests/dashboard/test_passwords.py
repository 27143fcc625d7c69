"""A team user's own password: change it signed in, reset it by email
(relink/dashboard/auth.py), and the password rules (NIST SP 800-63B)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import select

from relink.dashboard.auth import RESET_LIFETIME, RESETS_PER_WINDOW
from relink.dashboard.views.auth import FORGOT_THROTTLE_KEY
from relink.kit import clock
from relink.kit.clock import FrozenClock
from relink.kit.ratelimit import SlidingWindowThrottle
from relink.models import DashboardLogin, PasswordReset, Role, User
from relink.platforms.service import NewPlatform, create_user
from relink.runtime import Runtime
from tests.conftest import RunningServer
from tests.dashboard.factories import (
    PASSWORD,
    csrf_of,
    dashboard_client,
    emailed_link,
    page_csrf,
    sign_in,
    signed_in_client,
)
from tests.email.smtp_server import SmtpServer

NEW_PASSWORD = "a brand new passphrase"


def _change(client: httpx.Client, current: str, new: str) -> httpx.Response:
    return client.post(
        "/account/password",
        data={
            "csrf_token": page_csrf(client, "/account"),
            "current_password": current,
            "new_password": new,
        },
    )


def _signs_in(server: RunningServer, email: str, password: str) -> bool:
    with dashboard_client(server) as client:
        return sign_in(client, email, password).status_code == 303


def _open_logins(server: RunningServer, user_id: str) -> int:
    with server.runtime.database.read_only() as db:
        return len(
            db.scalars(
                select(DashboardLogin).where(
                    DashboardLogin.user_id == user_id, DashboardLogin.ended_at.is_(None)
                )
            ).all()
        )


# -- change ----------------------------------------------------------------------------------


def test_a_user_changes_their_password_and_their_other_sign_ins_end(
    server: RunningServer, platform: NewPlatform, owner: httpx.Client
) -> None:
    elsewhere = signed_in_client(server, platform.owner.email)
    try:
        response = _change(owner, PASSWORD, NEW_PASSWORD)
        assert response.headers["location"] == "/account?notice=password_changed"
        assert owner.get("/accounts").status_code == 200  # this browser stays signed in
        assert elsewhere.get("/accounts").status_code == 303  # the other one is signed out
    finally:
        elsewhere.close()
    assert _signs_in(server, platform.owner.email, NEW_PASSWORD)
    assert not _signs_in(server, platform.owner.email, PASSWORD)


def test_a_wrong_current_password_changes_nothing(
    server: RunningServer, platform: NewPlatform, owner: httpx.Client
) -> None:
    response = _change(owner, "not my password at all", NEW_PASSWORD)
    assert response.status_code == 400
    assert 'id="current_password-error"' in response.text
    assert _signs_in(server, platform.owner.email, PASSWORD)


def test_guessing_the_current_password_is_throttled_like_signing_in(
    server: RunningServer, platform: NewPlatform, owner: httpx.Client
) -> None:
    statuses = [_change(owner, f"guess number {n}", NEW_PASSWORD).status_code for n in range(6)]
    assert statuses == [400] * 5 + [429]
    assert _change(owner, PASSWORD, NEW_PASSWORD).status_code == 429


@pytest.mark.parametrize(
    ("new", "message"),
    [
        ("relink-demo", "Use at least 12 characters."),
        ("x" * 129, "Use at most 128 characters."),
        ("abcdefghijkl", "too easy to guess"),
    ],
)
def test_a_new_password_breaking_the_rules_is_refused_by_the_field(
    server: RunningServer, platform: NewPlatform, owner: httpx.Client, new: str, message: str
) -> None:
    response = _change(owner, PASSWORD, new)
    assert response.status_code == 400
    assert 'id="new_password-error"' in response.text and message in response.text
    assert _signs_in(server, platform.owner.email, PASSWORD)


def test_changing_the_password_without_the_csrf_token_is_refused(
    server: RunningServer, platform: NewPlatform, owner: httpx.Client
) -> None:
    response = owner.post(
        "/account/password", data={"current_password": PASSWORD, "new_password": NEW_PASSWORD}
    )
    assert response.status_code == 403
    assert _signs_in(server, platform.owner.email, PASSWORD)


# -- reset by email --------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def forgot_throttle(server: RunningServer) -> Iterator[SlidingWindowThrottle]:
    """A fresh per-client throttle for each test (all tests come from 127.0.0.1)."""
    extras = server.runtime.extras
    previous = extras.get(FORGOT_THROTTLE_KEY)
    throttle = extras[FORGOT_THROTTLE_KEY] = SlidingWindowThrottle(limit=10, window=900.0)
    yield throttle
    extras[FORGOT_THROTTLE_KEY] = previous


def test_reset_requests_from_one_client_are_throttled(
    server: RunningServer, platform: NewPlatform, forgot_throttle: SlidingWindowThrottle
) -> None:
    statuses = [
        _ask_for_reset(server, f"{n}-{platform.owner.email}").status_code
        for n in range(forgot_throttle.limit + 1)
    ]
    assert statuses == [303] * forgot_throttle.limit + [429]


def _ask_for_reset(server: RunningServer, email: str) -> httpx.Response:
    with dashboard_client(server) as client:
        form = client.get("/forgot-password")
        return client.post(
            "/forgot-password", data={"email": email, "csrf_token": csrf_of(form.text)}
        )


def _resets_of(server: RunningServer, user_id: str) -> list[PasswordReset]:
    with server.runtime.database.read_only() as db:
        return list(db.scalars(select(PasswordReset).where(PasswordReset.user_id == user_id)))


def test_a_reset_link_is_emailed_works_once_and_signs_out_everywhere(
    server: RunningServer,
    platform: NewPlatform,
    owner: httpx.Client,
    smtp: SmtpServer,
    smtp_runtime: Runtime,
) -> None:
    asked = _ask_for_reset(server, platform.owner.email.upper())
    assert asked.headers["location"] == "/login?notice=reset_sent"
    link = emailed_link(smtp, smtp_runtime, platform.owner.email, "/reset-password/")
    [reset] = _resets_of(server, platform.owner.id)
    assert link.rsplit("/", 1)[1] not in reset.token_digest  # only the digest is kept
    with dashboard_client(server) as browser:
        form = browser.get(link)
        assert form.status_code == 200 and platform.owner.email in form.text
        done = browser.post(link, data={"csrf_token": csrf_of(form.text), "password": NEW_PASSWORD})
        assert done.headers["location"] == "/login?notice=password_reset"
        assert browser.get(link).status_code == 404  # single use
    assert owner.get("/accounts").status_code == 303
    assert _open_logins(server, platform.owner.id) == 0
    assert _signs_in(server, platform.owner.email, NEW_PASSWORD)


def test_an_unknown_address_gets_the_same_answer_and_no_email(
    server: RunningServer, platform: NewPlatform, smtp: SmtpServer, smtp_runtime: Runtime
) -> None:
    unknown = "nobody-" + platform.owner.email
    known, other = _ask_for_reset(server, platform.owner.email), _ask_for_reset(server, unknown)
    assert (known.status_code, known.headers["location"]) == (
        other.status_code,
        other.headers["location"],
    )
    emailed_link(smtp, smtp_runtime, platform.owner.email, "/reset-password/")
    assert smtp.handler.to(unknown) == []


def test_reset_emails_to_one_user_are_limited(
    server: RunningServer, platform: NewPlatform, smtp: SmtpServer, smtp_runtime: Runtime
) -> None:
    statuses = {_ask_for_reset(server, platform.owner.email).status_code for _ in range(5)}
    assert statuses == {303}
    emailed_link(smtp, smtp_runtime, platform.owner.email, "/reset-password/")
    assert len(smtp.handler.to(platform.owner.email)) == RESETS_PER_WINDOW


def test_a_reset_link_expires(
    server: RunningServer, platform: NewPlatform, smtp: SmtpServer, smtp_runtime: Runtime
) -> None:
    _ask_for_reset(server, platform.owner.email)
    link = emailed_link(smtp, smtp_runtime, platform.owner.email, "/reset-password/")
    frozen = FrozenClock(clock.now())
    clock.set_now(frozen)
    try:
        frozen.advance(seconds=RESET_LIFETIME.total_seconds() + 1)
        with dashboard_client(server) as browser:
            page = browser.get(link)
    finally:
        clock.reset()
    assert page.status_code == 404 and "invalid, used or expired" in page.text


def test_a_reset_link_refuses_a_weak_password_and_stays_usable(
    server: RunningServer, platform: NewPlatform, smtp: SmtpServer, smtp_runtime: Runtime
) -> None:
    _ask_for_reset(server, platform.owner.email)
    link = emailed_link(smtp, smtp_runtime, platform.owner.email, "/reset-password/")
    with dashboard_client(server) as browser:
        form = browser.get(link)
        weak = browser.post(link, data={"csrf_token": csrf_of(form.text), "password": "short"})
        assert weak.status_code == 400 and "Use at least 12 characters." in weak.text
        assert browser.get(link).status_code == 200
    assert _signs_in(server, platform.owner.email, PASSWORD)


def test_a_reset_request_without_the_form_token_is_refused(
    server: RunningServer, platform: NewPlatform
) -> None:
    with dashboard_client(server) as client:
        response = client.post("/forgot-password", data={"email": platform.owner.email})
    assert response.status_code == 403
    assert _resets_of(server, platform.owner.id) == []


def test_a_reset_sets_an_unconfirmed_users_address_confirmed(
    server: RunningServer, platform: NewPlatform, smtp: SmtpServer, smtp_runtime: Runtime
) -> None:
    email = f"unconfirmed-{platform.platform.id.lower()}@example.com"
    with server.runtime.database.unit_of_work() as db:
        create_user(db, platform.platform.id, email, Role.viewer, password=PASSWORD)
    _ask_for_reset(server, email)
    link = emailed_link(smtp, smtp_runtime, email, "/reset-password/")
    with dashboard_client(server) as browser:
        form = browser.get(link)
        browser.post(link, data={"csrf_token": csrf_of(form.text), "password": NEW_PASSWORD})
    with server.runtime.database.read_only() as db:
        user = db.scalars(select(User).where(User.email == email)).one()
    assert user.email_confirmed_at is not None
