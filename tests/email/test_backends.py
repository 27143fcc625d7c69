from __future__ import annotations

import time
from email.message import EmailMessage

from sqlalchemy import func, select

from relink.config import Settings
from relink.email.backends import (
    MailboxBackend,
    MessageTags,
    SendOutcome,
    SmtpBackend,
    backend_for,
)
from relink.email.messages import RenderedEmail, build_message
from relink.kit import ids
from relink.models import MailboxMessage
from relink.platforms.service import NewPlatform
from relink.runtime import Runtime
from relink.sandbox_bank.testing import free_port
from tests.email.smtp_server import SmtpServer, accept_login, smtp_server
from tests.factories import runtime_with

TAGS = MessageTags(platform_id="acct_unused", livemode=False)


def message(to: str = "holder@example.com") -> EmailMessage:
    return build_message(
        RenderedEmail(
            subject="Reconnect your account",
            text="Hello,\nhttps://relink.example/relink/t\n",
            html="<p>Hello</p>",
            to=to,
            sender="Relink <no-reply@relink.example>",
            message_id=f"<{ids.new('obx')}.relink@relink.example>",
        )
    )


def plain_backend(server: SmtpServer, **options: object) -> SmtpBackend:
    return SmtpBackend(server.host, server.port, security="none", timeout=5, **options)  # type: ignore[arg-type]


def test_smtp_accepted_message_reaches_the_server(smtp: SmtpServer) -> None:
    backend = plain_backend(smtp)
    sent = message()

    result = backend.send(sent, TAGS)
    backend.close()

    assert result.outcome == SendOutcome.accepted
    [received] = smtp.handler.received
    assert received.rcpt_tos == ["holder@example.com"]
    assert received.message["Message-ID"] == sent["Message-ID"]


def test_smtp_4xx_reply_is_a_transient_failure_with_the_reply(smtp: SmtpServer) -> None:
    smtp.handler.data_replies = ["452 4.2.2 Mailbox full"]
    backend = plain_backend(smtp)

    result = backend.send(message(), TAGS)
    backend.close()

    assert (result.outcome, result.code, result.reply) == (
        SendOutcome.transient,
        452,
        "452 4.2.2 Mailbox full",
    )


def test_smtp_5xx_reply_is_a_permanent_failure_with_the_reply(smtp: SmtpServer) -> None:
    smtp.handler.data_replies = ["554 5.7.1 Rejected as spam"]
    backend = plain_backend(smtp)

    result = backend.send(message(), TAGS)
    backend.close()

    assert (result.outcome, result.code, result.reply) == (
        SendOutcome.permanent,
        554,
        "554 5.7.1 Rejected as spam",
    )


def test_smtp_connection_survives_a_refused_message(smtp: SmtpServer) -> None:
    smtp.handler.data_replies = ["451 4.3.0 Try later"]
    backend = plain_backend(smtp)

    backend.send(message(), TAGS)
    result = backend.send(message(), TAGS)
    backend.close()

    assert result.outcome == SendOutcome.accepted
    assert len(smtp.handler.received) == 1


def test_smtp_server_unreachable_is_a_transient_failure() -> None:
    backend = SmtpBackend("127.0.0.1", free_port(), security="none", timeout=2)

    result = backend.send(message(), TAGS)

    assert result.outcome == SendOutcome.transient
    assert result.code is None
    assert "ConnectionRefusedError" in (result.reply or "")


def test_smtp_reconnects_after_the_server_closed_an_idle_connection() -> None:
    with smtp_server(timeout=0.3) as server:
        backend = plain_backend(server)
        backend.send(message(), TAGS)
        time.sleep(0.8)  # the server drops the idle connection

        result = backend.send(message(), TAGS)
        backend.close()

        assert result.outcome == SendOutcome.accepted
        assert len(server.handler.received) == 2
        assert len({item.peer for item in server.handler.received}) == 2


def test_smtp_upgrades_with_starttls_when_configured() -> None:
    with smtp_server(starttls=True) as server:
        backend = SmtpBackend(
            server.host,
            server.port,
            security="starttls",
            timeout=5,
            ssl_context=server.client_context(),
        )

        result = backend.send(message(), TAGS)
        backend.close()

        assert result.outcome == SendOutcome.accepted
        [received] = server.handler.received
        assert received.tls is True


def test_smtp_without_starttls_is_refused_by_a_server_that_requires_it() -> None:
    with smtp_server(starttls=True) as server:
        backend = plain_backend(server)

        result = backend.send(message(), TAGS)
        backend.close()

        assert result.outcome == SendOutcome.permanent
        assert result.code == 530
        assert server.handler.received == []


def test_smtp_starttls_verifies_the_server_certificate() -> None:
    with smtp_server(starttls=True) as server:
        backend = SmtpBackend(server.host, server.port, security="starttls", timeout=5)

        result = backend.send(message(), TAGS)
        backend.close()

        assert result.outcome == SendOutcome.transient
        assert "CERTIFICATE_VERIFY_FAILED" in (result.reply or "")
        assert server.handler.received == []


def test_smtp_logs_in_when_a_username_is_configured() -> None:
    with smtp_server(
        authenticator=accept_login("relink", "s3cret"), auth_require_tls=False
    ) as server:
        backend = plain_backend(server, username="relink", password="s3cret")

        result = backend.send(message(), TAGS)
        backend.close()

        assert result.outcome == SendOutcome.accepted
        assert server.handler.received[0].authenticated_as == "relink"


def test_smtp_wrong_password_is_a_permanent_failure() -> None:
    with smtp_server(
        authenticator=accept_login("relink", "s3cret"), auth_require_tls=False
    ) as server:
        backend = plain_backend(server, username="relink", password="wrong")

        result = backend.send(message(), TAGS)

        assert (result.outcome, result.code) == (SendOutcome.permanent, 535)
        assert server.handler.received == []


def test_mailbox_stores_a_message_id_once(runtime: Runtime, platform: NewPlatform) -> None:
    backend = MailboxBackend(runtime.database)
    tags = MessageTags(platform.platform.id, False, session_id=None)
    sent = message()

    first = backend.send(sent, tags)
    again = backend.send(sent, tags)

    assert (first.accepted, first.duplicate) == (True, False)
    assert (again.accepted, again.duplicate) == (True, True)
    with runtime.database.read_only() as db:
        count = db.scalar(
            select(func.count())
            .select_from(MailboxMessage)
            .where(MailboxMessage.message_id == sent["Message-ID"])
        )
    assert count == 1


def test_mailbox_is_the_default_backend(runtime: Runtime) -> None:
    assert isinstance(backend_for(runtime), MailboxBackend)


def test_backend_is_made_once_per_runtime(settings: Settings, smtp: SmtpServer) -> None:
    runtime = runtime_with(settings, email_backend="smtp", smtp_host=smtp.host, smtp_port=smtp.port)
    try:
        backend = backend_for(runtime)

        assert isinstance(backend, SmtpBackend)
        assert backend_for(runtime) is backend
        assert (backend.host, backend.port, backend.security) == (
            smtp.host,
            smtp.port,
            "starttls",
        )
    finally:
        runtime.database.engine.dispose()
