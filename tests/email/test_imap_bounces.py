"""Bounces read from an IMAP mailbox (``relink bounces poll``), served by a real Dovecot:
Relink sends to a real SMTP server, a DSN for that message lands in the mailbox, and one
poll suppresses the address; a forged one changes nothing; nothing is acted on twice."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import stripe
from sqlalchemy import func, select

from relink.config import Settings
from relink.email.bounces import MAX_REPORT_BYTES
from relink.email.poller import ImapError, PollResult, poll_once
from relink.models import DeliveryState, SessionTimelineEntry
from relink.platforms.service import NewPlatform
from relink.runtime import Runtime
from relink.worker import BackgroundWorker
from tests.email.factories import delivery, eligible_account, request_relink_email
from tests.email.imap_server import ImapServer, imap_server
from tests.email.reports import bulk_skips, dsn, sent_email, suppressed
from tests.email.smtp_server import Received, SmtpServer
from tests.factories import drain_outbox, runtime_with, sending_to

pytestmark = pytest.mark.imap

RELINK = str(Path(sys.executable).with_name("relink"))
VICTIM = "someone.else@example.com"


@pytest.fixture
def imap() -> Iterator[ImapServer]:
    with imap_server() as server:
        yield server


def imap_settings(
    imap: ImapServer, security: str = "starttls", **changes: object
) -> dict[str, object]:
    return {
        "bounce_imap_host": imap.host,
        "bounce_imap_port": imap.ssl_port if security == "ssl" else imap.port,
        "bounce_imap_security": security,
        "bounce_imap_username": imap.username,
        "bounce_imap_password": imap.password,
        "bounce_imap_interval_seconds": 0.2,
        **changes,
    }


@pytest.fixture
def imap_runtime(settings: Settings, smtp: SmtpServer, imap: ImapServer) -> Iterator[Runtime]:
    """Sends to ``smtp``; reads bounces from ``imap`` (STARTTLS, trusting its CA)."""
    with sending_to(smtp, settings, **imap_settings(imap)) as runtime:
        yield runtime


def in_mailbox(received: Received, **options: str) -> bytes:
    """A DSN for ``received`` as a mailbox keeps it: the bounce address is in
    Delivered-To (what the receiving server wrote), not in To."""
    return f"Delivered-To: {received.mail_from}\r\n".encode() + dsn(
        received, to="bounces@localhost", **options
    )


def poll_command(
    settings: Settings, imap: ImapServer, *args: str, **env: str
) -> subprocess.CompletedProcess[str]:
    """``relink bounces poll`` as a process, on the test's database, over TLS (the test
    CA trusted through SSL_CERT_FILE, as an operator would for a private CA)."""
    values = imap_settings(imap, "ssl")
    environment = {
        **{name: value for name, value in os.environ.items() if not name.startswith("RELINK_")},
        "RELINK_DATABASE_URL": settings.database_url,
        "RELINK_SECRET_KEY": settings.resolved_secret_key,
        "SSL_CERT_FILE": str(imap.ca_file),
        **{f"RELINK_{name.upper()}": str(value) for name, value in values.items()},
        **env,
    }
    return subprocess.run(
        [RELINK, "bounces", "poll", *args],
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def bounced_entries(runtime: Runtime, session_id: str) -> int:
    with runtime.database.read_only() as db:
        return (
            db.scalar(
                select(func.count()).where(
                    SessionTimelineEntry.session_id == session_id,
                    SessionTimelineEntry.kind == "email_bounced",
                )
            )
            or 0
        )


def test_poll_once_suppresses_a_bounced_address_and_the_next_bulk_request_skips_it(
    client: stripe.StripeClient,
    platform: NewPlatform,
    smtp: SmtpServer,
    imap_runtime: Runtime,
    imap: ImapServer,
    settings: Settings,
) -> None:
    account, session_id, received = sent_email(client, platform, smtp, imap_runtime)
    imap.append(in_mailbox(received))
    imap.append(in_mailbox(received, recipient=VICTIM))  # forged: names another address

    done = poll_command(settings, imap, "--once")

    assert done.returncode == 0, done.stderr
    assert "2 unseen message(s): 1 ignored, 1 suppressed" in done.stdout
    found = suppressed(imap_runtime, platform, platform.owner.email)
    assert found is not None and found.reason == "bounced"
    assert found.diagnostic and "5.1.1" in found.diagnostic
    assert suppressed(imap_runtime, platform, VICTIM) is None
    state = delivery(imap_runtime, session_id)
    assert state is not None and state.state == DeliveryState.bounced
    assert bulk_skips(imap_runtime, platform, account.id) == {"email_undeliverable": 1}
    assert imap.flags() == ["1 (FLAGS (\\Seen))", "2 (FLAGS (\\Seen))"]

    again = poll_command(settings, imap, "--once")

    assert again.returncode == 0, again.stderr
    assert "0 unseen message(s)" in again.stdout
    assert bounced_entries(imap_runtime, session_id) == 1


def test_a_forged_dsn_in_the_mailbox_changes_nothing_and_is_not_read_again(
    client: stripe.StripeClient,
    platform: NewPlatform,
    smtp: SmtpServer,
    imap_runtime: Runtime,
    imap: ImapServer,
) -> None:
    _, session_id, received = sent_email(client, platform, smtp, imap_runtime)
    forged_to = "bounces+" + "0" * 32 + "@localhost"
    imap.append(dsn(received, to=forged_to))

    first = poll_once(imap_runtime, imap.client_context())
    second = poll_once(imap_runtime, imap.client_context())

    assert dict(first.outcomes) == {"ignored": 1} and second.found == 0
    assert suppressed(imap_runtime, platform, platform.owner.email) is None
    state = delivery(imap_runtime, session_id)
    assert state is not None and state.state == DeliveryState.sent
    # Not a report Relink believes: flagged seen and left in the mailbox.
    assert imap.flags() == ["1 (FLAGS (\\Seen))"]


def test_a_message_that_is_not_a_bounce_is_marked_seen_and_left(
    imap_runtime: Runtime, imap: ImapServer
) -> None:
    imap.append(b"From: someone@example.com\r\nSubject: Hello\r\n\r\nAre you there?\r\n")

    result = poll_once(imap_runtime, imap.client_context())

    assert dict(result.outcomes) == {"ignored": 1}
    assert imap.flags() == ["1 (FLAGS (\\Seen))"]


def test_a_report_read_again_after_a_crash_before_the_seen_flag_is_acted_on_once(
    client: stripe.StripeClient,
    platform: NewPlatform,
    smtp: SmtpServer,
    imap_runtime: Runtime,
    imap: ImapServer,
) -> None:
    _, session_id, received = sent_email(client, platform, smtp, imap_runtime)
    imap.append(in_mailbox(received))
    assert dict(poll_once(imap_runtime, imap.client_context()).outcomes) == {"suppressed": 1}
    # The commit happened; the flag did not (the poller died in between).
    with imap.session() as connection:
        connection.store("1", "-FLAGS", "(\\Seen)")

    again = poll_once(imap_runtime, imap.client_context())

    assert dict(again.outcomes) == {"duplicate": 1}
    assert bounced_entries(imap_runtime, session_id) == 1
    assert imap.flags() == ["1 (FLAGS (\\Seen))"]


def test_a_message_larger_than_any_report_is_not_read_and_marked_seen(
    imap_runtime: Runtime, imap: ImapServer
) -> None:
    body = b"x" * 76 + b"\r\n"
    imap.append(b"Subject: Holiday photos\r\n\r\n" + body * (MAX_REPORT_BYTES // len(body) + 1))
    imap.append(b"Subject: Hello\r\n\r\nNot a bounce.\r\n")

    result = poll_once(imap_runtime, imap.client_context())

    assert result.found == 2 and dict(result.outcomes) == {"too_large": 1, "ignored": 1}
    assert imap.flags() == ["1 (FLAGS (\\Seen))", "2 (FLAGS (\\Seen))"]


def test_a_poll_told_to_stop_leaves_the_rest_for_the_next_one(
    imap_runtime: Runtime, imap: ImapServer
) -> None:
    imap.append(b"Subject: Hello\r\n\r\nNot a bounce.\r\n")
    stopping = threading.Event()
    stopping.set()

    result = poll_once(imap_runtime, imap.client_context(), stopping)

    assert result.found == 1 and not result.outcomes
    assert imap.flags() == ["1 (FLAGS ())"]


@pytest.mark.parametrize("security", ["ssl", "starttls", "none"])
def test_the_mailbox_is_read_over_each_security_mode(
    settings: Settings, imap: ImapServer, security: str
) -> None:
    imap.append(b"Subject: Hello\r\n\r\nNot a bounce.\r\n")
    runtime = runtime_with(settings, **imap_settings(imap, security))
    try:
        result = poll_once(runtime, imap.client_context())
    finally:
        runtime.database.engine.dispose()
    assert result.found == 1 and dict(result.outcomes) == {"ignored": 1}


def test_tls_verifies_the_server_certificate(settings: Settings, imap: ImapServer) -> None:
    runtime = runtime_with(settings, **imap_settings(imap, "ssl"))
    try:
        with pytest.raises(ImapError, match="CERTIFICATE_VERIFY_FAILED"):
            poll_once(runtime)  # the system's CAs do not know the test CA
    finally:
        runtime.database.engine.dispose()


def test_bad_credentials_give_a_clear_error_and_exit_non_zero(
    settings: Settings, imap: ImapServer
) -> None:
    imap.append(b"Subject: Hello\r\n\r\nNot a bounce.\r\n")

    done = poll_command(settings, imap, "--once", RELINK_BOUNCE_IMAP_PASSWORD="wrong")

    assert done.returncode == 1
    assert "IMAP login to 127.0.0.1" in done.stderr
    assert "as bounces failed" in done.stderr and "AUTHENTICATIONFAILED" in done.stderr
    assert "Traceback" not in done.stderr
    assert imap.flags() == ["1 (FLAGS ())"]


def test_poll_without_an_imap_host_says_so(settings: Settings, imap: ImapServer) -> None:
    done = poll_command(settings, imap, "--once", RELINK_BOUNCE_IMAP_HOST="")

    assert done.returncode == 1
    assert "RELINK_BOUNCE_IMAP_HOST is not set" in done.stderr


def test_a_message_whose_processing_fails_stays_for_the_next_poll(
    client: stripe.StripeClient,
    platform: NewPlatform,
    smtp: SmtpServer,
    imap_runtime: Runtime,
    imap: ImapServer,
    settings: Settings,
    tmp_path: Path,
) -> None:
    _, _, received = sent_email(client, platform, smtp, imap_runtime)
    imap.append(in_mailbox(received))
    # A database without Relink's tables: every transaction fails.
    broken = poll_command(
        settings, imap, "--once", RELINK_DATABASE_URL=f"sqlite:///{tmp_path / 'empty.db'}"
    )
    assert broken.returncode == 1
    assert "1 failed (left for the next poll)" in broken.stdout
    assert "bounce.poll_failed" in broken.stdout + broken.stderr
    assert imap.flags() == ["1 (FLAGS ())"]

    result = poll_once(imap_runtime, imap.client_context())

    assert dict(result.outcomes) == {"suppressed": 1}
    assert suppressed(imap_runtime, platform, platform.owner.email) is not None


def test_two_pollers_on_one_mailbox_act_on_each_report_once(
    client: stripe.StripeClient,
    platform: NewPlatform,
    smtp: SmtpServer,
    imap_runtime: Runtime,
    imap: ImapServer,
) -> None:
    sessions = [
        request_relink_email(client, eligible_account(client, platform, last4=f"000{n}")).id
        for n in range(3)
    ]
    drain_outbox(imap_runtime)
    sent = smtp.handler.to(platform.owner.email)
    assert len(sent) == 3
    for received in sent:
        imap.append(in_mailbox(received))
        imap.append(b"From: someone@example.com\r\nSubject: Hello\r\n\r\nHi.\r\n")
    start = threading.Barrier(2)

    def poll() -> PollResult:
        start.wait(timeout=30)
        return poll_once(imap_runtime, imap.client_context())

    with ThreadPoolExecutor(2) as pool:
        results = [future.result(timeout=120) for future in [pool.submit(poll) for _ in range(2)]]

    outcomes = sum((result.outcomes for result in results), Counter[str]())
    assert outcomes["suppressed"] == 3 and outcomes["ignored"] >= 3
    assert sum(result.failed for result in results) == 0
    assert [bounced_entries(imap_runtime, session_id) for session_id in sessions] == [1, 1, 1]
    assert imap.flags() == [f"{n} (FLAGS (\\Seen))" for n in range(1, 7)]


def test_the_worker_polls_the_mailbox_when_the_imap_host_is_set(
    client: stripe.StripeClient,
    platform: NewPlatform,
    smtp: SmtpServer,
    imap_runtime: Runtime,
    imap: ImapServer,
) -> None:
    _, _, received = sent_email(client, platform, smtp, imap_runtime)
    imap.append(in_mailbox(received))
    with sending_to(smtp, imap_runtime.settings, bounce_imap_security="none") as runtime:
        worker = BackgroundWorker(runtime)
        worker.start()
        try:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and imap.flags() != ["1 (FLAGS (\\Seen))"]:
                time.sleep(0.2)
        finally:
            worker.stop(timeout=60)
        poller = worker.worker.poller
        assert poller is not None and poller.thread is not None
        assert not poller.thread.is_alive()  # it stops with the worker
    assert suppressed(imap_runtime, platform, platform.owner.email) is not None
