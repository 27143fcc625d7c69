"""Dashboard tests drive the real server with httpx, signed in as a team user."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest

from relink.models import Role
from relink.outbox.worker import OutboxDispatcher
from relink.platforms.service import NewPlatform, create_user
from relink.runtime import Runtime
from relink.worker import HANDLERS
from tests.conftest import RunningServer
from tests.email.smtp_server import SmtpServer

PASSWORD = "correct horse battery"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(html: str) -> str:
    found = _CSRF.search(html)
    assert found is not None, "no CSRF token on the page"
    return found.group(1)


def sign_in(client: httpx.Client, email: str, password: str = PASSWORD) -> httpx.Response:
    form = client.get("/login")
    return client.post(
        "/login", data={"email": email, "password": password, "csrf_token": csrf_of(form.text)}
    )


def signed_in_client(server: RunningServer, email: str) -> httpx.Client:
    client = httpx.Client(base_url=server.url, follow_redirects=False, timeout=20)
    response = sign_in(client, email)
    if response.status_code != 303:
        client.close()
        raise AssertionError(response.text)
    return client


@pytest.fixture
def owner(server: RunningServer, platform: NewPlatform) -> Iterator[httpx.Client]:
    client = signed_in_client(server, platform.owner.email)
    yield client
    client.close()


def add_user(
    server: RunningServer, platform: NewPlatform, role: Role, *, confirmed: bool = True
) -> str:
    email = f"{role.value}-{platform.platform.id.lower()}@example.com"
    with server.runtime.database.unit_of_work() as db:
        create_user(db, platform.platform.id, email, role, password=PASSWORD, confirmed=confirmed)
    return email


@pytest.fixture
def viewer(server: RunningServer, platform: NewPlatform) -> Iterator[httpx.Client]:
    client = signed_in_client(server, add_user(server, platform, Role.viewer))
    yield client
    client.close()


def page_csrf(client: httpx.Client, path: str = "/accounts") -> str:
    return csrf_of(client.get(path).text)


@contextmanager
def member(server: RunningServer, platform: NewPlatform, role: Role) -> Iterator[httpx.Client]:
    """A signed-in client of a new team user with ``role``."""
    client = signed_in_client(server, add_user(server, platform, role))
    try:
        yield client
    finally:
        client.close()


_LINK = re.compile(r"https?://\S+")


def emailed_link(smtp: SmtpServer, runtime: Runtime, to: str, path: str) -> str:
    """Run the worker (``runtime`` sends to ``smtp``), then the ``path`` link of the
    latest email to ``to``, read from its plain-text body."""
    OutboxDispatcher(runtime, HANDLERS).drain()
    received = smtp.handler.to(to)
    assert received, f"no email to {to}"
    body = received[-1].message.get_body(preferencelist=("plain",))
    assert body is not None
    links: list[str] = [link for link in _LINK.findall(body.get_content()) if path in link]
    assert links, f"no {path} link in the email to {to}"
    return links[0]
