"""Mailbox page: the current platform and mode's emails only, by session, each email's
HTML served from its own URL with its own policy."""

from __future__ import annotations

import re

import httpx
import stripe

from relink.email.backends import MailboxBackend, MessageTags
from relink.email.messages import RenderedEmail, build_message
from relink.kit import ids
from relink.outbox.dispatcher import OutboxDispatcher
from relink.platforms.service import NewPlatform
from relink.runtime import Runtime
from relink.worker import HANDLERS
from tests.conftest import RunningServer, make_platform
from tests.dashboard.factories import SCRIPT, broken_account, page_csrf, sign_in


def store_email(
    runtime: Runtime,
    platform_id: str,
    *,
    livemode: bool = False,
    subject: str = "Please reconnect",
    session_id: str | None = None,
    html: str = "<html><head><title>x</title></head><body><a href='https://example.com/relink/t'>Reconnect</a></body></html>",
) -> str:
    """An email "sent" through the mailbox backend; returns its Message-ID."""
    message_id = f"<{ids.new('test')}@relink.invalid>"
    rendered = RenderedEmail(
        subject=subject,
        text="Reconnect: https://example.com/relink/t\n",
        html=html,
        to="holder@example.com",
        sender="Relink <no-reply@example.com>",
        message_id=message_id,
    )
    MailboxBackend(runtime.database).send(
        build_message(rendered), MessageTags(platform_id, livemode, session_id=session_id)
    )
    return message_id


def _message_ids(html: str) -> list[str]:
    return re.findall(r'id="email-(mbx_\w+)"', html)


def test_the_mailbox_shows_only_the_current_platform_and_mode(
    server: RunningServer, platform: NewPlatform, owner: httpx.Client
) -> None:
    with server.runtime.database.unit_of_work() as db:
        other = make_platform(db)
    store_email(server.runtime, platform.platform.id, subject="Ours in test mode")
    store_email(server.runtime, platform.platform.id, livemode=True, subject="Ours in live mode")
    store_email(server.runtime, other.platform.id, subject="Another platform's")
    html = owner.get("/mailbox").text
    assert "Ours in test mode" in html
    assert "Ours in live mode" not in html and "Another platform&#39;s" not in html
    assert len(_message_ids(html)) == 1


def test_a_frame_of_another_platform_is_not_found(
    server: RunningServer, owner: httpx.Client
) -> None:
    with server.runtime.database.unit_of_work() as db:
        other = make_platform(db)
    store_email(server.runtime, other.platform.id)
    with httpx.Client(base_url=server.url) as theirs:
        sign_in(theirs, other.owner.email)
        [message_id] = _message_ids(theirs.get("/mailbox").text)
    assert owner.get(f"/mailbox/{message_id}.html").status_code == 404


def test_the_mailbox_filters_by_relink_request(
    server: RunningServer, platform: NewPlatform, owner: httpx.Client
) -> None:
    store_email(server.runtime, platform.platform.id, subject="First", session_id="fcsess_one")
    store_email(server.runtime, platform.platform.id, subject="Second", session_id="fcsess_two")
    html = owner.get("/mailbox?session=fcsess_one").text
    assert "First" in html and "Second" not in html


def test_an_email_frame_has_its_own_policy_and_opens_links_in_a_new_tab(
    server: RunningServer, platform: NewPlatform, owner: httpx.Client
) -> None:
    store_email(server.runtime, platform.platform.id)
    [message_id] = _message_ids(owner.get("/mailbox").text)
    frame = owner.get(f"/mailbox/{message_id}.html")
    assert frame.headers["content-security-policy"].startswith("default-src 'none'")
    assert "frame-ancestors 'self'" in frame.headers["content-security-policy"]
    assert frame.headers["x-frame-options"] == "SAMEORIGIN"
    assert '<head><base target="_blank"><title>' in frame.text


def test_markup_in_a_subject_renders_as_text(
    server: RunningServer, platform: NewPlatform, owner: httpx.Client
) -> None:
    store_email(server.runtime, platform.platform.id, subject=SCRIPT)
    html = owner.get("/mailbox").text
    assert SCRIPT not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_a_requested_relink_email_arrives_in_the_mailbox_once_the_worker_ran(
    server: RunningServer, platform: NewPlatform, owner: httpx.Client, client: stripe.StripeClient
) -> None:
    account = broken_account(client, platform.owner.email)
    owner.post(
        f"/accounts/{account.id}/request-relink",
        data={"csrf_token": page_csrf(owner, f"/accounts/{account.id}")},
    )
    OutboxDispatcher(server.runtime, HANDLERS).drain()
    session_id = re.search(
        r"/mailbox\?session=(fcsess_\w+)", owner.get(f"/accounts/{account.id}").text
    )
    assert session_id is not None
    html = owner.get(f"/mailbox?session={session_id.group(1)}").text
    assert len(_message_ids(html)) == 1
    assert f"{server.url}/relink/" in html  # the link, clickable in the text part
