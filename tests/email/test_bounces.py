"""Bounces: every relink email leaves with a VERP envelope sender; a DSN or complaint
that comes back to it (over SMTP to ``relink bounces serve``) suppresses the address; a
forged one changes nothing."""

from __future__ import annotations

import smtplib

import httpx
import pytest
import stripe
from sqlalchemy import select

from relink.bulk_requests.service import request_relinks
from relink.config import Settings
from relink.email.bounces import (
    Outcome,
    ingest,
    lift,
    record_transient,
    suppression_of,
)
from relink.kit.clock import FrozenClock
from relink.kit.crypto import token_digest
from relink.models import Account, BounceToken, DeliveryState, EmailSuppression, OutboxStatus
from relink.platforms.service import NewPlatform
from relink.runtime import Runtime
from relink.tenancy import Scope, in_scope
from tests.conftest import RunningServer
from tests.eligibility.factories import create_team_user
from tests.email.factories import delivery, eligible_account, email_row, request_relink_email
from tests.email.reports import (
    bulk_skips,
    complaint,
    deliver,
    dsn,
    scope_of,
    sent_email,
    suppressed,
)
from tests.email.smtp_server import SmtpServer
from tests.factories import drain_outbox, sending_to, timeline_kinds


def test_every_relink_email_leaves_with_its_own_bounce_address_stored_as_a_digest(
    client: stripe.StripeClient, platform: NewPlatform, smtp: SmtpServer, smtp_runtime: Runtime
) -> None:
    _, session_id, received = sent_email(client, platform, smtp, smtp_runtime)
    local, _, domain = received.mail_from.partition("@")
    assert local.startswith("bounces+") and domain == "localhost"
    token = local.removeprefix("bounces+")
    assert len(token) == 32
    with smtp_runtime.database.read_only() as db:
        [row] = db.scalars(select(BounceToken).where(BounceToken.session_id == session_id))
        assert row.digest == token_digest(token)
        assert token not in (row.digest, row.recipient, row.message_id)
        assert row.recipient == platform.owner.email.lower()
    assert received.message["From"].endswith("<no-reply@localhost>")


def test_a_dsn_over_smtp_suppresses_the_address_and_the_next_bulk_request_skips_it(
    client: stripe.StripeClient,
    platform: NewPlatform,
    smtp: SmtpServer,
    smtp_runtime: Runtime,
    receiver: tuple[str, int],
    server: RunningServer,
) -> None:
    account, session_id, received = sent_email(client, platform, smtp, smtp_runtime)

    deliver(receiver, dsn(received), received.mail_from)

    found = suppressed(smtp_runtime, platform, platform.owner.email)
    assert found is not None and found.reason == "bounced"
    assert found.diagnostic and "5.1.1" in found.diagnostic
    state = delivery(smtp_runtime, session_id)
    assert state is not None and state.state == DeliveryState.bounced
    assert timeline_kinds(smtp_runtime, session_id)[-1] == "email_bounced"
    assert bulk_skips(smtp_runtime, platform, account.id) == {"email_undeliverable": 1}
    answer = httpx.get(
        f"{server.url}/v1/financial_connections/accounts/{account.id}/relink_eligibility",
        auth=(platform.test_secret_key, ""),
    ).json()
    assert [reason["code"] for reason in answer["reasons"]] == ["email_undeliverable"]


def test_a_forged_dsn_without_a_token_of_a_sent_message_changes_nothing(
    client: stripe.StripeClient,
    platform: NewPlatform,
    smtp: SmtpServer,
    smtp_runtime: Runtime,
    receiver: tuple[str, int],
) -> None:
    _, session_id, received = sent_email(client, platform, smtp, smtp_runtime)
    forged_to = "bounces+" + "0" * 32 + "@localhost"

    deliver(receiver, dsn(received, to=forged_to), forged_to)

    assert suppressed(smtp_runtime, platform, platform.owner.email) is None
    state = delivery(smtp_runtime, session_id)
    assert state is not None and state.state == DeliveryState.sent


def test_a_dsn_to_a_real_bounce_address_naming_another_address_changes_nothing(
    client: stripe.StripeClient,
    platform: NewPlatform,
    smtp: SmtpServer,
    smtp_runtime: Runtime,
    receiver: tuple[str, int],
) -> None:
    _, session_id, received = sent_email(client, platform, smtp, smtp_runtime)
    victim = "someone.else@example.com"

    deliver(receiver, dsn(received, recipient=victim), received.mail_from)

    assert suppressed(smtp_runtime, platform, victim) is None
    assert suppressed(smtp_runtime, platform, platform.owner.email) is None
    state = delivery(smtp_runtime, session_id)
    assert state is not None and state.state == DeliveryState.sent


def test_the_receiver_refuses_recipients_that_are_not_bounce_addresses(
    receiver: tuple[str, int],
) -> None:
    with (
        smtplib.SMTP(*receiver, timeout=30) as connection,
        pytest.raises(smtplib.SMTPRecipientsRefused) as refused,
    ):
        connection.sendmail("", ["postmaster@localhost"], b"Subject: hi\r\n\r\nhi\r\n")
    assert refused.value.recipients["postmaster@localhost"][0] == 550


def test_an_abuse_complaint_suppresses_the_address(
    client: stripe.StripeClient, platform: NewPlatform, smtp: SmtpServer, smtp_runtime: Runtime
) -> None:
    _, _, received = sent_email(client, platform, smtp, smtp_runtime)

    with smtp_runtime.database.unit_of_work() as db:
        outcome = ingest(db, complaint(received), ["abuse@relink.example"])

    assert outcome == Outcome.suppressed
    found = suppressed(smtp_runtime, platform, platform.owner.email)
    assert found is not None and found.reason == "complained"


def test_a_complaint_naming_another_recipient_changes_nothing(
    client: stripe.StripeClient, platform: NewPlatform, smtp: SmtpServer, smtp_runtime: Runtime
) -> None:
    _, _, received = sent_email(client, platform, smtp, smtp_runtime)

    with smtp_runtime.database.unit_of_work() as db:
        outcome = ingest(db, complaint(received, original_rcpt="other@example.com"), [])

    assert outcome == Outcome.ignored
    assert suppressed(smtp_runtime, platform, platform.owner.email) is None


def test_a_5xx_about_the_address_at_send_time_suppresses_it(
    client: stripe.StripeClient, platform: NewPlatform, smtp: SmtpServer, smtp_runtime: Runtime
) -> None:
    account = eligible_account(client, platform)
    request_relink_email(client, account)
    smtp.handler.replies_for[platform.owner.email] = ["550 5.1.1 No such mailbox"]

    drain_outbox(smtp_runtime)

    found = suppressed(smtp_runtime, platform, platform.owner.email)
    assert found is not None and found.diagnostic == "550 5.1.1 No such mailbox"
    assert bulk_skips(smtp_runtime, platform, account.id) == {"email_undeliverable": 1}


def test_a_5xx_that_is_not_about_the_address_does_not_suppress_it(
    client: stripe.StripeClient, platform: NewPlatform, smtp: SmtpServer, smtp_runtime: Runtime
) -> None:
    request_relink_email(client, eligible_account(client, platform))
    smtp.handler.replies_for[platform.owner.email] = ["550 5.7.1 Relaying denied"]

    drain_outbox(smtp_runtime)

    assert suppressed(smtp_runtime, platform, platform.owner.email) is None


GREYLISTED = "451 4.7.1 Greylisted, please try again later"


def _suppression_row(runtime: Runtime, platform: NewPlatform, address: str) -> EmailSuppression:
    with runtime.database.read_only() as db:
        found = suppression_of(db, scope_of(platform), address)
    assert found is not None, f"no suppression row for {address}"
    return found


def test_a_4xx_for_the_recipient_at_send_time_counts_as_transient_and_the_email_is_retried(
    client: stripe.StripeClient,
    platform: NewPlatform,
    smtp: SmtpServer,
    smtp_runtime: Runtime,
    frozen_clock: FrozenClock,
) -> None:
    session = request_relink_email(client, eligible_account(client, platform))
    smtp.handler.rcpt_replies_for[platform.owner.email] = [GREYLISTED]

    drain_outbox(smtp_runtime)

    assert smtp.handler.to(platform.owner.email) == []
    assert email_row(smtp_runtime, session.id).status == OutboxStatus.pending
    row = _suppression_row(smtp_runtime, platform, platform.owner.email)
    assert (row.transient_failures, row.first_transient_at) == (1, frozen_clock.at)
    assert suppressed(smtp_runtime, platform, platform.owner.email) is None
    frozen_clock.advance(hours=2)
    drain_outbox(smtp_runtime)
    assert len(smtp.handler.to(platform.owner.email)) == 1


def test_4xx_answers_for_the_recipient_repeated_over_days_suppress_it_for_a_while(
    client: stripe.StripeClient,
    platform: NewPlatform,
    smtp: SmtpServer,
    settings: Settings,
    frozen_clock: FrozenClock,
) -> None:
    address = platform.owner.email
    # Retried for four days, so one email meets the server's answer on three of them.
    with sending_to(smtp, settings, email_retry_hours=4 * 24) as runtime:
        session = request_relink_email(client, eligible_account(client, platform))
        smtp.handler.rcpt_replies_for[address] = ["452 4.2.2 Mailbox full"] * 3
        for _ in range(3):
            drain_outbox(runtime)
            frozen_clock.advance(days=1)

        found = suppressed(runtime, platform, address)
        assert found is not None and found.reason == "deferred"
        assert found.diagnostic == "452 4.2.2 Mailbox full"
        assert smtp.handler.to(address) == []
        assert timeline_kinds(runtime, session.id).count("email_failed") == 3
        frozen_clock.advance(days=7)
        assert suppressed(runtime, platform, address) is None


def test_a_421_at_send_time_is_about_the_server_and_counts_nothing_against_the_address(
    client: stripe.StripeClient,
    platform: NewPlatform,
    smtp: SmtpServer,
    smtp_runtime: Runtime,
) -> None:
    request_relink_email(client, eligible_account(client, platform))
    smtp.handler.rcpt_replies_for[platform.owner.email] = ["421 4.3.2 Shutting down"]

    drain_outbox(smtp_runtime)

    with smtp_runtime.database.read_only() as db:
        assert suppression_of(db, scope_of(platform), platform.owner.email) is None


def test_a_holder_whose_email_changes_is_no_longer_suppressed(
    client: stripe.StripeClient,
    platform: NewPlatform,
    smtp: SmtpServer,
    smtp_runtime: Runtime,
    receiver: tuple[str, int],
) -> None:
    account, _, received = sent_email(client, platform, smtp, smtp_runtime)
    deliver(receiver, dsn(received), received.mail_from)
    assert bulk_skips(smtp_runtime, platform, account.id) == {"email_undeliverable": 1}
    with smtp_runtime.database.unit_of_work() as db:
        # Test mode emails only confirmed team addresses: the new one is one too.
        colleague = create_team_user(db, platform.platform.id, confirmed=True).email
    customer = account.account_holder.customer if account.account_holder else None
    assert isinstance(customer, str)

    client.v1.customers.update(customer, {"email": colleague})

    scope = scope_of(platform)
    query = select(Account).where(in_scope(Account, scope), Account.id == account.id)
    with smtp_runtime.database.unit_of_work() as db:
        assert request_relinks(db, scope, smtp_runtime, query, actor="test").created == 1


def test_an_operator_lifts_a_suppression_and_a_second_lift_does_nothing(
    client: stripe.StripeClient,
    platform: NewPlatform,
    smtp: SmtpServer,
    smtp_runtime: Runtime,
    receiver: tuple[str, int],
) -> None:
    _, _, received = sent_email(client, platform, smtp, smtp_runtime)
    deliver(receiver, dsn(received), received.mail_from)
    scope = scope_of(platform)
    with smtp_runtime.database.unit_of_work() as db:
        assert lift(db, scope, platform.owner.email, actor="ops@example.com", now=scope.now())
    assert suppressed(smtp_runtime, platform, platform.owner.email) is None
    with smtp_runtime.database.unit_of_work() as db:
        assert not lift(db, scope, platform.owner.email, actor="ops@example.com", now=scope.now())
    other = Scope(platform.platform.id, livemode=True)
    with smtp_runtime.database.unit_of_work() as db:
        assert not lift(db, other, platform.owner.email, actor="ops@example.com", now=scope.now())


def test_transient_failures_repeated_over_days_suppress_for_a_while_then_retry(
    platform: NewPlatform, runtime: Runtime, frozen_clock: FrozenClock
) -> None:
    scope = scope_of(platform)
    address = "slow@example.com"
    outcomes = []
    for _ in range(3):
        with runtime.database.unit_of_work() as db:
            outcomes.append(
                record_transient(db, scope, address, "4.2.2 Mailbox full", None, scope.now())
            )
        frozen_clock.advance(days=1)
    assert outcomes == [Outcome.counted, Outcome.counted, Outcome.deferred]
    row = suppressed(runtime, platform, address)
    assert row is not None and row.reason == "deferred"
    frozen_clock.advance(days=7)
    assert suppressed(runtime, platform, address) is None


def test_transient_failures_within_a_day_do_not_suppress(
    platform: NewPlatform, runtime: Runtime, frozen_clock: FrozenClock
) -> None:
    scope = scope_of(platform)
    for _ in range(5):
        with runtime.database.unit_of_work() as db:
            record_transient(db, scope, "busy@example.com", None, None, scope.now())
        frozen_clock.advance(hours=1)
    assert suppressed(runtime, platform, "busy@example.com") is None


def test_the_same_report_twice_is_acted_on_once(
    client: stripe.StripeClient, platform: NewPlatform, smtp: SmtpServer, smtp_runtime: Runtime
) -> None:
    _, _, received = sent_email(client, platform, smtp, smtp_runtime)
    report = dsn(received, status="4.2.2", action="delayed")
    outcomes = []
    for _ in range(2):
        with smtp_runtime.database.unit_of_work() as db:
            outcomes.append(ingest(db, report, [received.mail_from]))

    assert outcomes == [Outcome.counted, Outcome.duplicate]
    scope = scope_of(platform)
    with smtp_runtime.database.read_only() as db:
        row = suppression_of(db, scope, platform.owner.email)
        assert row is not None and row.transient_failures == 1


def test_a_message_that_trips_the_bounce_detectors_is_ignored_not_an_error(
    client: stripe.StripeClient, platform: NewPlatform, smtp: SmtpServer, smtp_runtime: Runtime
) -> None:
    _, _, received = sent_email(client, platform, smtp, smtp_runtime)
    # No From header: one of flufl.bounce's detectors raises on it.
    raw = f"To: {received.mail_from}\r\nSubject: Out of office\r\n\r\nBack Monday.\r\n"

    with smtp_runtime.database.unit_of_work() as db:
        outcome = ingest(db, raw.encode(), [])

    assert outcome == Outcome.ignored
    assert suppressed(smtp_runtime, platform, platform.owner.email) is None


def test_the_bounce_domain_setting_puts_the_bounce_address_on_that_domain(
    client: stripe.StripeClient,
    platform: NewPlatform,
    smtp: SmtpServer,
    settings: Settings,
    receiver: tuple[str, int],
) -> None:
    with sending_to(smtp, settings, bounce_domain="bounces.relink.example") as runtime:
        _, _, received = sent_email(client, platform, smtp, runtime)
        local, _, domain = received.mail_from.partition("@")
        assert local.startswith("bounces+") and domain == "bounces.relink.example"
        assert received.message["From"].endswith("<no-reply@localhost>")

        deliver(receiver, dsn(received), received.mail_from)

        found = suppressed(runtime, platform, platform.owner.email)
        assert found is not None and found.reason == "bounced"
