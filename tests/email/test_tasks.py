from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import httpx
import pytest
import stripe
from babel.dates import format_date
from sqlalchemy import select

from relink.config import Settings
from relink.email.tasks import send_relink_email
from relink.kit.clock import FrozenClock
from relink.models import DeliveryState, MailboxMessage, OutboxStatus, Platform
from relink.outbox.handlers import Job
from relink.platforms.service import NewPlatform
from relink.runtime import Runtime
from tests.email.factories import (
    delivery,
    eligible_account,
    email_row,
    request_relink_email,
    timeline_entry,
)
from tests.email.smtp_server import SmtpServer
from tests.factories import (
    WireObject,
    body_of,
    create_session,
    drain_outbox,
    error_of,
    relink_params,
    sending_to,
    timeline_kinds,
)


def test_worker_delivers_one_relink_email_to_the_holder_over_smtp(
    client: stripe.StripeClient,
    platform: NewPlatform,
    smtp: SmtpServer,
    smtp_runtime: Runtime,
    frozen_clock: FrozenClock,
) -> None:
    account = eligible_account(client, platform, name="Dana Holder")
    session = request_relink_email(client, account)

    drain_outbox(smtp_runtime)

    [received] = smtp.handler.to(platform.owner.email)
    message = received.message
    assert message["To"] == platform.owner.email
    assert message.get_content_type() == "multipart/alternative"
    text = body_of(message)
    html = body_of(message, "html")
    expiry = format_date(
        frozen_clock.at + dt.timedelta(days=30),
        format="long",
        locale="en",
    )
    for body in (text, html):
        assert "Hello Dana Holder," in body
        assert "••••6789" in body
        assert "Bank (Non-OAuth)" in body
        assert "Your permission to share this account has expired." in body
        assert expiry in body
        assert session.url in body
        assert "never ask for your bank password" in body
    assert f'href="{session.url}"' in html
    assert "Acme Lending" in message["From"]
    assert "#3a5bd9" in html


def test_email_is_written_in_the_holders_preferred_language(
    client: stripe.StripeClient,
    platform: NewPlatform,
    smtp: SmtpServer,
    smtp_runtime: Runtime,
    frozen_clock: FrozenClock,
) -> None:
    account = eligible_account(client, platform, preferred_locales=["de"])
    request_relink_email(client, account)

    drain_outbox(smtp_runtime)

    [received] = smtp.handler.to(platform.owner.email)
    text = body_of(received.message)
    expiry = format_date(
        frozen_clock.at + dt.timedelta(days=30),
        format="long",
        locale="de",
    )
    assert received.message["Subject"].startswith("Handlungsbedarf: Verbinden Sie Ihr Konto")
    assert "Ihre Erlaubnis, dieses Konto zu teilen, ist abgelaufen." in text
    assert f"gilt bis zum {expiry}" in text
    assert 'lang="de"' in body_of(received.message, "html")


def test_sent_email_is_recorded_on_the_timeline_and_as_delivered(
    client: stripe.StripeClient, platform: NewPlatform, smtp: SmtpServer, smtp_runtime: Runtime
) -> None:
    session = request_relink_email(client, eligible_account(client, platform))

    drain_outbox(smtp_runtime)

    [received] = smtp.handler.to(platform.owner.email)
    assert timeline_kinds(smtp_runtime, session.id) == ["created", "email_queued", "email_sent"]
    sent = timeline_entry(smtp_runtime, session.id, "email_sent")
    assert sent.detail["backend"] == "smtp"
    assert sent.detail["message_id"] == received.message["Message-ID"]
    state = delivery(smtp_runtime, session.id)
    assert state is not None
    assert (state.state, state.attempts, state.message_id) == (
        DeliveryState.sent,
        1,
        received.message["Message-ID"],
    )


def test_transient_smtp_failure_is_retried_later_and_sent_once(
    client: stripe.StripeClient,
    platform: NewPlatform,
    smtp: SmtpServer,
    smtp_runtime: Runtime,
    frozen_clock: FrozenClock,
) -> None:
    session = request_relink_email(client, eligible_account(client, platform))
    smtp.handler.replies_for[platform.owner.email] = ["451 4.3.0 Mailbox busy, try again later"]

    drain_outbox(smtp_runtime)
    assert smtp.handler.to(platform.owner.email) == []
    assert email_row(smtp_runtime, session.id).status == OutboxStatus.pending

    frozen_clock.advance(hours=2)
    drain_outbox(smtp_runtime)

    assert len(smtp.handler.to(platform.owner.email)) == 1
    assert timeline_kinds(smtp_runtime, session.id) == [
        "created",
        "email_queued",
        "email_failed",
        "email_sent",
    ]
    failed = timeline_entry(smtp_runtime, session.id, "email_failed")
    assert failed.detail["reply"].startswith("451 4.3.0 Mailbox busy")
    assert (failed.detail["attempt"], failed.detail["permanent"]) == (1, False)
    state = delivery(smtp_runtime, session.id)
    assert state is not None
    assert (state.state, state.attempts) == (DeliveryState.sent, 2)


def test_transient_failure_waits_for_backoff_before_the_next_attempt(
    client: stripe.StripeClient,
    platform: NewPlatform,
    smtp: SmtpServer,
    smtp_runtime: Runtime,
    frozen_clock: FrozenClock,
) -> None:
    session = request_relink_email(client, eligible_account(client, platform))
    smtp.handler.replies_for[platform.owner.email] = ["421 4.7.0 Too many connections"]

    drain_outbox(smtp_runtime)
    row = email_row(smtp_runtime, session.id)

    assert row.run_after > frozen_clock.at
    assert row.run_after <= frozen_clock.at + dt.timedelta(seconds=30)
    assert row.attempts == 1


def test_permanent_smtp_failure_is_dead_lettered_and_not_retried(
    client: stripe.StripeClient,
    platform: NewPlatform,
    smtp: SmtpServer,
    smtp_runtime: Runtime,
    frozen_clock: FrozenClock,
) -> None:
    session = request_relink_email(client, eligible_account(client, platform))
    smtp.handler.replies_for[platform.owner.email] = ["550 5.1.1 No such mailbox"]

    drain_outbox(smtp_runtime)
    frozen_clock.advance(days=1)
    drain_outbox(smtp_runtime)

    assert smtp.handler.to(platform.owner.email) == []
    row = email_row(smtp_runtime, session.id)
    assert (row.status, row.attempts) == (OutboxStatus.dead, 1)
    assert timeline_kinds(smtp_runtime, session.id) == ["created", "email_queued", "email_bounced"]
    failed = timeline_entry(smtp_runtime, session.id, "email_bounced")
    assert failed.detail["reply"] == "550 5.1.1 No such mailbox"
    assert failed.detail["permanent"] is True
    state = delivery(smtp_runtime, session.id)
    assert state is not None
    assert (state.state, state.last_reply) == (DeliveryState.bounced, "550 5.1.1 No such mailbox")


def test_a_batch_of_emails_travels_over_the_pooled_smtp_connections(
    client: stripe.StripeClient, platform: NewPlatform, smtp: SmtpServer, smtp_runtime: Runtime
) -> None:
    for _ in range(12):
        request_relink_email(client, eligible_account(client, platform))
    # A slow server: while one email waits for its reply, the next ones go out on the
    # pool's other connections.
    smtp.handler.data_delay_seconds = 0.05
    try:
        drain_outbox(smtp_runtime)
    finally:
        smtp.handler.data_delay_seconds = 0.0

    received = smtp.handler.to(platform.owner.email)
    assert len(received) == 12
    assert len({item.peer for item in received}) == smtp_runtime.settings.smtp_connections == 8


def test_with_one_smtp_connection_every_email_travels_over_it(
    client: stripe.StripeClient, platform: NewPlatform, smtp: SmtpServer, settings: Settings
) -> None:
    with sending_to(smtp, settings, smtp_connections=1) as runtime:
        for _ in range(5):
            request_relink_email(client, eligible_account(client, platform))
        drain_outbox(runtime)

    received = smtp.handler.to(platform.owner.email)
    assert len(received) == 5
    assert len({item.peer for item in received}) == 1


def test_replaying_a_row_stores_no_second_mailbox_message(
    client: stripe.StripeClient, platform: NewPlatform, runtime: Runtime
) -> None:
    session = request_relink_email(client, eligible_account(client, platform))
    row = email_row(runtime, session.id)
    job = Job(runtime, row, "test-worker")

    send_relink_email(job)
    send_relink_email(job)  # the worker crashed before marking the row done

    with runtime.database.read_only() as db:
        messages = list(
            db.scalars(select(MailboxMessage).where(MailboxMessage.session_id == session.id))
        )
    assert len(messages) == 1
    assert timeline_kinds(runtime, session.id).count("email_sent") == 1


def test_mailbox_is_the_default_backend_and_keeps_the_sent_email(
    client: stripe.StripeClient, platform: NewPlatform, runtime: Runtime
) -> None:
    session = request_relink_email(client, eligible_account(client, platform))

    drain_outbox(runtime)

    with runtime.database.read_only() as db:
        [stored] = db.scalars(select(MailboxMessage).where(MailboxMessage.session_id == session.id))
    assert stored.to == platform.owner.email
    assert session.url in stored.text
    assert session.url in stored.html
    assert timeline_entry(runtime, session.id, "email_sent").detail["backend"] == "mailbox"


def test_email_of_a_session_no_longer_pending_is_not_sent(
    client: stripe.StripeClient, platform: NewPlatform, smtp: SmtpServer, smtp_runtime: Runtime
) -> None:
    account = eligible_account(client, platform)
    session = request_relink_email(client, account)
    # A newer hosted session for the account supersedes (cancels) the first one.
    create_session(client, **relink_params(account, "url"))

    drain_outbox(smtp_runtime)

    assert smtp.handler.to(platform.owner.email) == []
    state = delivery(smtp_runtime, session.id)
    assert state is not None
    assert state.state == DeliveryState.skipped


def test_test_mode_email_to_an_address_no_longer_confirmed_is_refused(
    client: stripe.StripeClient, platform: NewPlatform, smtp: SmtpServer, smtp_runtime: Runtime
) -> None:
    account = eligible_account(client, platform)
    session = request_relink_email(client, account)
    client.v1.customers.update(
        str(account.account_holder.customer),  # type: ignore[union-attr]
        params={"email": "someone.real@example.org"},
    )

    drain_outbox(smtp_runtime)

    assert smtp.handler.received == [] or all(
        "someone.real@example.org" not in item.rcpt_tos for item in smtp.handler.received
    )
    assert email_row(smtp_runtime, session.id).status == OutboxStatus.dead
    failed = timeline_entry(smtp_runtime, session.id, "email_failed")
    assert failed.detail["permanent"] is True


def test_link_in_the_email_opens_the_hosted_page(
    client: stripe.StripeClient, platform: NewPlatform, smtp: SmtpServer, smtp_runtime: Runtime
) -> None:
    session = request_relink_email(client, eligible_account(client, platform))

    drain_outbox(smtp_runtime)

    [received] = smtp.handler.to(platform.owner.email)
    text = body_of(received.message)
    # The request's link (the footer's is the holder's page to stop reminders).
    [link] = [
        line for line in text.splitlines() if line.startswith("http") and "/reminders/" not in line
    ]
    assert link == session.url
    assert httpx.get(link, timeout=10).status_code == 200


def test_a_stored_sender_name_with_a_line_break_still_sends_the_email_on_one_line(
    client: stripe.StripeClient,
    platform: NewPlatform,
    runtime: Runtime,
    smtp: SmtpServer,
    smtp_runtime: Runtime,
) -> None:
    # Saved before the settings page refused such names (or written by hand).
    with runtime.database.unit_of_work() as db:
        row = db.get(Platform, platform.platform.id)
        assert row is not None
        row.email_sender_name = "Acme\r\nBcc: stranger@example.com"
        row.support_email = "help@acme.example\r\nBcc: stranger@example.com"
    session = request_relink_email(client, eligible_account(client, platform))

    drain_outbox(smtp_runtime)

    [received] = smtp.handler.to(platform.owner.email)
    assert received.message["From"].startswith('"Acme Bcc: stranger@example.com" <')
    assert received.message["Reply-To"] is None
    assert smtp.handler.to("stranger@example.com") == []
    sent = delivery(runtime, session.id)
    assert sent is not None and sent.state == DeliveryState.sent


def test_an_smtp_outage_of_hours_is_retried_through_and_the_email_sent_when_it_ends(
    client: stripe.StripeClient,
    platform: NewPlatform,
    smtp: SmtpServer,
    smtp_runtime: Runtime,
    frozen_clock: FrozenClock,
) -> None:
    session = request_relink_email(client, eligible_account(client, platform))
    # The server refuses every attempt for three hours (far more attempts than any
    # fixed count would allow at the backoff's first steps).
    smtp.handler.replies_for[platform.owner.email] = ["421 4.3.2 Service not available"] * 1000
    outage_ends = frozen_clock.at + dt.timedelta(hours=3)
    while frozen_clock.at < outage_ends:
        drain_outbox(smtp_runtime)
        frozen_clock.advance(minutes=10)
    assert smtp.handler.to(platform.owner.email) == []
    assert email_row(smtp_runtime, session.id).status == OutboxStatus.pending

    smtp.handler.replies_for.clear()
    frozen_clock.advance(hours=1)  # past the capped backoff
    drain_outbox(smtp_runtime)

    assert len(smtp.handler.to(platform.owner.email)) == 1
    state = delivery(smtp_runtime, session.id)
    assert state is not None and state.state == DeliveryState.sent


def test_an_email_given_up_frees_its_account_for_a_new_request(
    client: stripe.StripeClient,
    platform: NewPlatform,
    smtp: SmtpServer,
    smtp_runtime: Runtime,
    frozen_clock: FrozenClock,
) -> None:
    account = eligible_account(client, platform)
    first = request_relink_email(client, account)
    with pytest.raises(stripe.InvalidRequestError) as refused:
        request_relink_email(client, account)
    # While its email may still arrive, the request holds the account, and says so
    # without claiming the email was sent.
    [reason] = error_of(refused.value)["reasons"]
    assert reason["code"] == "recent_request"
    assert "still being retried" in reason["message"]

    # Refused for good, but not because of the address (which would suppress it).
    smtp.handler.replies_for[platform.owner.email] = ["554 5.7.1 Message rejected"]
    drain_outbox(smtp_runtime)

    second = request_relink_email(client, account)
    assert second.id != first.id
    assert client.v1.financial_connections.sessions.retrieve(first.id)["status"] == "cancelled"


def test_an_email_for_a_bank_in_trouble_waits_uncounted_and_goes_out_when_it_is_back(
    client: stripe.StripeClient,
    platform: NewPlatform,
    smtp: SmtpServer,
    smtp_runtime: Runtime,
    frozen_clock: FrozenClock,
    outage: Callable[..., WireObject | None],
) -> None:
    session = request_relink_email(client, eligible_account(client, platform))
    outage("degraded")

    drain_outbox(smtp_runtime)
    frozen_clock.advance(minutes=5)
    drain_outbox(smtp_runtime)  # still in trouble at the second look

    assert smtp.handler.to(platform.owner.email) == []
    row = email_row(smtp_runtime, session.id)
    assert (row.status, row.attempts) == (OutboxStatus.pending, 0)
    assert row.run_after > frozen_clock.at
    waiting = delivery(smtp_runtime, session.id)
    assert waiting is not None
    assert (waiting.state, waiting.attempts, waiting.last_attempt_at) == (
        DeliveryState.waiting,
        0,
        None,
    )
    assert timeline_kinds(smtp_runtime, session.id) == ["created", "email_queued", "email_waiting"]
    noted = timeline_entry(smtp_runtime, session.id, "email_waiting")
    assert noted.detail == {"institution": "fcinst_bank_non_oauth", "health": "degraded"}

    outage("active")  # the recovery wakes the waiting email: no need to wait for its next look
    drain_outbox(smtp_runtime)

    assert len(smtp.handler.to(platform.owner.email)) == 1
    sent = delivery(smtp_runtime, session.id)
    assert sent is not None
    assert (sent.state, sent.attempts) == (DeliveryState.sent, 1)
    assert timeline_kinds(smtp_runtime, session.id)[-2:] == ["email_waiting", "email_sent"]
