"""One email per holder: a bulk request that finds several eligible accounts of one holder
bundles their sessions and emails one link; each account keeps its own session."""

from __future__ import annotations

import re
from collections.abc import Callable

import stripe
from sqlalchemy import select, update

from relink.email.bounces import suppress
from relink.models import DeliveryState, EmailDelivery, Session, SessionStatus, SuppressionReason
from relink.outbox.dispatcher import OutboxDispatcher
from relink.platforms.service import NewPlatform
from relink.runtime import Runtime
from relink.sessions.bundles import bundle_token
from relink.tenancy import load_platform_scope
from tests.email.smtp_server import SmtpServer
from tests.factories import body_of, timeline_details, timeline_kinds
from tests.hosted.factories import (
    broken_account,
    broken_accounts_of_one_holder,
    bundled_sessions_of,
    relink_session,
    request_in_bulk,
    retrieve_session,
)
from tests.schema import assert_valid


def test_three_accounts_of_one_holder_at_two_banks_get_one_email_with_one_link(
    client: stripe.StripeClient,
    platform: NewPlatform,
    runtime: Runtime,
    smtp: SmtpServer,
    smtp_worker: OutboxDispatcher,
) -> None:
    _, accounts = broken_accounts_of_one_holder(client, platform.owner.email)
    account_ids = [a.id for a in accounts]
    request_in_bulk(runtime, platform.platform.id, account_ids)
    smtp_worker.drain()

    [email] = smtp.handler.to(platform.owner.email)
    text = body_of(email.message)
    for account in accounts:
        assert f"••••{account.last4}" in text
    assert text.count("Bank (Non-OAuth)") == 2 and text.count("Test (Non-OAuth)") == 1
    assert "Your permission to share this account has expired." in text
    [link] = re.findall(r"https?://\S+/relinks/[A-Za-z0-9_-]+", text)
    # An operator's request: not a mailing one leaves, but it says how to stop reminders.
    assert email.message["List-Unsubscribe"] is None
    assert "To stop reminder emails, open this page:" in text
    sessions = bundled_sessions_of(runtime, account_ids)
    assert len(sessions) == 3
    [bundle_id] = {s.bundle_id for s in sessions}
    assert bundle_id is not None and bundle_id.startswith("rlbndl_")
    assert link.endswith(f"/relinks/{bundle_token(runtime, bundle_id)}")
    for session in sessions:
        assert timeline_kinds(runtime, session.id)[:3] == ["created", "email_queued", "email_sent"]


def test_each_bundled_session_is_its_own_stripe_session_naming_its_bundle(
    client: stripe.StripeClient, platform: NewPlatform, runtime: Runtime
) -> None:
    _, accounts = broken_accounts_of_one_holder(client, platform.owner.email)
    request_in_bulk(runtime, platform.platform.id, [a.id for a in accounts])
    sessions = bundled_sessions_of(runtime, [a.id for a in accounts])
    retrieved = [retrieve_session(client, s.id) for s in sessions]
    assert len({r.id for r in retrieved}) == 3
    for session, wire in zip(sessions, retrieved, strict=True):
        assert wire.status == "pending"
        assert wire["relink_bundle"] == session.bundle_id
        assert wire.relink_options.account == session.relink_account_id
        assert_valid(wire.to_dict(), "financial_connections.session")


def test_two_holders_with_one_account_each_get_two_emails_and_no_bundle(
    client: stripe.StripeClient,
    platform: NewPlatform,
    runtime: Runtime,
    smtp: SmtpServer,
    smtp_worker: OutboxDispatcher,
) -> None:
    _, first = broken_account(client, platform.owner.email, customer_name="Ada Lovelace")
    _, second = broken_account(client, platform.owner.email, customer_name="Grace Hopper")
    request_in_bulk(runtime, platform.platform.id, [first.id, second.id])
    smtp_worker.drain()

    emails = smtp.handler.to(platform.owner.email)
    assert len(emails) == 2
    assert all("/relink/" in body_of(e.message) for e in emails)
    sessions = bundled_sessions_of(runtime, [first.id, second.id])
    assert [s.bundle_id for s in sessions] == [None, None]
    assert "relink_bundle" not in retrieve_session(client, sessions[0].id).to_dict()


def test_sessions_created_through_the_api_keep_one_email_each(
    client: stripe.StripeClient,
    platform: NewPlatform,
    runtime: Runtime,
    smtp: SmtpServer,
    smtp_worker: OutboxDispatcher,
) -> None:
    _, accounts = broken_accounts_of_one_holder(client, platform.owner.email)
    created = [relink_session(client, a, delivery_method="email") for a in accounts]
    smtp_worker.drain()

    emails = smtp.handler.to(platform.owner.email)
    assert len(emails) == 3
    assert all("/relinks/" not in body_of(e.message) for e in emails)
    assert [s.bundle_id for s in bundled_sessions_of(runtime, [a.id for a in accounts])] == [
        None
    ] * 3
    assert all("relink_bundle" not in retrieve_session(client, s.id).to_dict() for s in created)


def test_a_session_that_ended_before_the_email_is_left_out_of_it(
    client: stripe.StripeClient,
    platform: NewPlatform,
    runtime: Runtime,
    smtp: SmtpServer,
    smtp_worker: OutboxDispatcher,
) -> None:
    _, accounts = broken_accounts_of_one_holder(client, platform.owner.email)
    request_in_bulk(runtime, platform.platform.id, [a.id for a in accounts])
    ended, *open_ = bundled_sessions_of(runtime, [a.id for a in accounts])
    with runtime.database.unit_of_work() as db:
        db.execute(
            update(Session).where(Session.id == ended.id).values(status=SessionStatus.cancelled)
        )
    smtp_worker.drain()

    [email] = smtp.handler.to(platform.owner.email)
    text = body_of(email.message)
    assert f"••••{accounts[0].last4}" not in text
    assert all(f"••••{a.last4}" in text for a in accounts[1:])
    with runtime.database.read_only() as db:
        states = {d.session_id: d.state for d in db.scalars(select(EmailDelivery))}
    assert states[ended.id] == DeliveryState.skipped
    assert [states[s.id] for s in open_] == [DeliveryState.sent] * 2


def test_a_suppressed_address_gets_no_bundle_email_and_each_session_says_why(
    client: stripe.StripeClient,
    platform: NewPlatform,
    runtime: Runtime,
    smtp: SmtpServer,
    smtp_worker: OutboxDispatcher,
) -> None:
    _, accounts = broken_accounts_of_one_holder(client, platform.owner.email)
    request_in_bulk(runtime, platform.platform.id, [a.id for a in accounts])
    sessions = bundled_sessions_of(runtime, [a.id for a in accounts])
    with runtime.database.unit_of_work() as db:
        scope = load_platform_scope(db, platform.platform.id, False)
        suppress(
            db,
            scope,
            platform.owner.email.lower(),
            SuppressionReason.bounced,
            "550 5.1.1 no such user",
            sessions[0].id,
            scope.now(),
        )
    smtp_worker.drain()

    assert smtp.handler.to(platform.owner.email) == []
    for session in sessions:
        [failed] = timeline_details(runtime, session.id, "email_failed")
        assert "suppression list" in failed["reply"] and failed["permanent"] is True


def test_a_bundle_email_waits_while_one_of_its_banks_is_in_trouble(
    client: stripe.StripeClient,
    platform: NewPlatform,
    runtime: Runtime,
    smtp: SmtpServer,
    smtp_worker: OutboxDispatcher,
    outage: Callable[..., object],
) -> None:
    _, accounts = broken_accounts_of_one_holder(client, platform.owner.email)
    request_in_bulk(runtime, platform.platform.id, [a.id for a in accounts])
    sessions = bundled_sessions_of(runtime, [a.id for a in accounts])
    outage("degraded")  # Bank (Non-OAuth): two of the three accounts
    smtp_worker.drain()
    assert smtp.handler.to(platform.owner.email) == []
    for session in sessions:
        assert "email_waiting" in timeline_kinds(runtime, session.id)

    outage("active")  # the recovery wakes the waiting bundle email
    smtp_worker.drain()
    [email] = smtp.handler.to(platform.owner.email)
    assert all(f"••••{a.last4}" in body_of(email.message) for a in accounts)
