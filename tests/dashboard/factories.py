"""Dashboard test helpers: signed-in clients, team users, CSRF tokens, emailed links,
and accounts built through the API."""

from __future__ import annotations

import re
import struct
import zlib
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import stripe
from sqlalchemy import select

from relink.kit import clock, ids
from relink.models import Account, Authorization, Customer, Institution, Role
from relink.platforms.service import NewPlatform, create_user
from relink.runtime import Runtime
from tests.conftest import RunningServer
from tests.email.smtp_server import SmtpServer
from tests.factories import create_customer, create_test_account, deactivate, drain_outbox

SCRIPT = "<script>alert(1)</script>"
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


def dashboard_client(server: RunningServer) -> httpx.Client:
    """An httpx client of the dashboard that shows redirects instead of following them."""
    return httpx.Client(base_url=server.url, follow_redirects=False, timeout=20)


def signed_in_client(server: RunningServer, email: str) -> httpx.Client:
    client = dashboard_client(server)
    response = sign_in(client, email)
    if response.status_code != 303:
        client.close()
        raise AssertionError(response.text)
    return client


def add_user(
    server: RunningServer, platform: NewPlatform, role: Role, *, confirmed: bool = True
) -> str:
    email = f"{role.value}-{platform.platform.id.lower()}@example.com"
    with server.runtime.database.unit_of_work() as db:
        create_user(db, platform.platform.id, email, role, password=PASSWORD, confirmed=confirmed)
    return email


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
    drain_outbox(runtime)
    received = smtp.handler.to(to)
    assert received, f"no email to {to}"
    body = received[-1].message.get_body(preferencelist=("plain",))
    assert body is not None
    links: list[str] = [link for link in _LINK.findall(body.get_content()) if path in link]
    assert links, f"no {path} link in the email to {to}"
    return links[0]


def broken_account(
    client: stripe.StripeClient, email: str, *, name: str = "Ada Holder"
) -> stripe.financial_connections.Account:
    """An inactive account that needs a relink, held by a customer with ``email``."""
    customer = create_customer(client, email=email, name=name)
    account = create_test_account(client, customer=customer.id)
    deactivate(client, account.id, "access_expired")
    return account


def live_account(runtime: Runtime, platform_id: str, *, email: str = "holder@example.com") -> str:
    """A live-mode account, written directly (the API's test helpers work in test mode only)."""
    now = clock.now()
    with runtime.database.unit_of_work() as db:
        institution = db.scalars(select(Institution.id).order_by(Institution.id)).first()
        assert institution is not None
        customer = Customer(
            id=ids.new("cus"), platform_id=platform_id, livemode=True, email=email, created_at=now
        )
        authorization = Authorization(
            id=ids.new("fcauthz"),
            platform_id=platform_id,
            livemode=True,
            institution_id=institution,
            holder_type="customer",
            customer_id=customer.id,
            created_at=now,
            updated_at=now,
        )
        account = Account(
            id=ids.new("fca"),
            platform_id=platform_id,
            livemode=True,
            authorization_id=authorization.id,
            institution_id=institution,
            holder_type="customer",
            customer_id=customer.id,
            bank_account_id="live-1",
            display_name="Live checking",
            last4="4242",
            created_at=now,
            updated_at=now,
        )
        db.add(customer)
        db.flush()
        db.add(authorization)
        db.flush()
        db.add(account)
    return account.id


def png(extra: int = 0) -> bytes:
    """A real 1×1 PNG, padded with an ancillary chunk of ``extra`` bytes."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00\xff\x00\x00")
    padding = chunk(b"tEXt", b"x" * extra) if extra else b""
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + padding
        + chunk(b"IDAT", pixels)
        + chunk(b"IEND", b"")
    )
