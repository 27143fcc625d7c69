"""The automatic relink scan: requested once after the delay, reminded on the reminder
days with the same link, capped, and stopped at once by a repair or a suppression."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator

import httpx
import pytest
import stripe

from relink.automatic_relink.reminders import EXPIRY, PENDING
from relink.automatic_relink.service import Policy
from relink.automatic_relink.tasks import expiry_of, run_automatic_relink, schedule
from relink.eligibility.rules import ABOUT_TO_BREAK, BROKEN_SINCE_EVER
from relink.email.bounces import suppress
from relink.institutions.incidents import release
from relink.kit import ids
from relink.kit.clock import FrozenClock
from relink.kit.provenance import EventContext
from relink.models import Incident, SuppressionReason
from relink.outbox.dispatcher import OutboxDispatcher
from relink.platforms.service import NewPlatform
from relink.runtime import Runtime
from relink.sessions.schemas import hosted_url
from relink.sessions.service import SessionService
from relink.tenancy import load_platform_scope
from tests.automatic_relink.factories import (
    DAY,
    episode,
    mailbox_of,
    reminder_rows,
    scan,
    sessions_of,
    set_policy,
)
from tests.email.factories import eligible_account
from tests.email.smtp_server import Received, SmtpServer
from tests.factories import (
    WireObject,
    advance_clock,
    body_of,
    create_customer,
    create_test_account,
    deactivate,
    drain_outbox,
    timeline_details,
)
from tests.hosted.factories import broken_accounts_of_one_holder
from tests.hosted.pages import HostedPages, text_of

NOW = dt.datetime(2026, 12, 2, 12, 0, tzinfo=dt.UTC)


@pytest.fixture
def automation(client: stripe.StripeClient, frozen_clock: FrozenClock) -> Iterator[None]:
    """The platform's policy on (no delay unless a test sets one); off again after, so
    later tests' scans leave this platform alone."""
    set_policy(client, enabled="true", delay_seconds=0)
    yield
    set_policy(client, enabled="false")


# -- the schedule --------------------------------------------------------------------------


def test_a_reminder_is_due_on_each_reminder_day_after_the_request() -> None:
    policy = Policy(reminder_days=(3, 7), expiry_reminder_days=())
    first = schedule(
        policy,
        NOW + dt.timedelta(days=3),
        requested_at=NOW,
        expiry_at=None,
        reminders_done=0,
        expiry_reminders_done=0,
        emails=1,
    )
    assert (first.due, first.reminders_done, first.next_at) == (
        PENDING,
        1,
        NOW + dt.timedelta(days=7),
    )
    last = schedule(
        policy,
        NOW + dt.timedelta(days=7),
        requested_at=NOW,
        expiry_at=None,
        reminders_done=1,
        expiry_reminders_done=0,
        emails=2,
    )
    assert (last.due, last.reminders_done, last.next_at) == (PENDING, 2, None)


def test_reminder_days_that_passed_together_give_one_reminder() -> None:
    plan = schedule(
        Policy(reminder_days=(3, 7), expiry_reminder_days=()),
        NOW + dt.timedelta(days=10),
        requested_at=NOW,
        expiry_at=None,
        reminders_done=0,
        expiry_reminders_done=0,
        emails=1,
    )
    assert (plan.due, plan.reminders_done, plan.next_at) == (PENDING, 2, None)


def test_an_expiry_reminder_is_due_the_days_before_the_expiry() -> None:
    expiry = NOW + dt.timedelta(days=20)
    plan = schedule(
        Policy(reminder_days=(), expiry_reminder_days=(14, 7, 1)),
        expiry - dt.timedelta(days=14),
        requested_at=NOW,
        expiry_at=expiry,
        reminders_done=0,
        expiry_reminders_done=0,
        emails=1,
    )
    assert (plan.due, plan.expiry_reminders_done, plan.next_at) == (
        EXPIRY,
        1,
        expiry - dt.timedelta(days=7),
    )


def test_nothing_is_due_or_planned_once_the_cap_is_reached() -> None:
    plan = schedule(
        Policy(reminder_days=(3, 7), max_emails_per_account=2),
        NOW + dt.timedelta(days=7),
        requested_at=NOW,
        expiry_at=None,
        reminders_done=1,
        expiry_reminders_done=0,
        emails=2,
    )
    assert (plan.due, plan.next_at) == (None, None)


def test_the_last_email_the_cap_allows_plans_nothing_after_it() -> None:
    plan = schedule(
        Policy(reminder_days=(3, 7), max_emails_per_account=2),
        NOW + dt.timedelta(days=3),
        requested_at=NOW,
        expiry_at=None,
        reminders_done=0,
        expiry_reminders_done=0,
        emails=1,
    )
    assert (plan.due, plan.next_at) == (PENDING, None)


def test_only_an_account_about_to_break_has_an_expiry() -> None:
    assert expiry_of(None) is None
    assert expiry_of(BROKEN_SINCE_EVER) is None
    assert expiry_of(NOW) == NOW + ABOUT_TO_BREAK


# -- the scan ------------------------------------------------------------------------------


def test_with_the_policy_off_nothing_is_requested(
    client: stripe.StripeClient, platform: NewPlatform, runtime: Runtime, frozen_clock: FrozenClock
) -> None:
    account = eligible_account(client, platform)
    scan(runtime)
    assert sessions_of(runtime, account.id) == []
    assert episode(runtime, account.id) is None


def test_an_account_that_breaks_is_requested_once_after_the_delay(
    client: stripe.StripeClient, platform: NewPlatform, runtime: Runtime, automation: None
) -> None:
    set_policy(client, delay_seconds=3600)
    account = eligible_account(client, platform)
    scan(runtime)
    assert sessions_of(runtime, account.id) == []
    advance_clock(client, 3599)
    scan(runtime)
    assert sessions_of(runtime, account.id) == []

    advance_clock(client, 1)
    scan(runtime)
    [session] = sessions_of(runtime, account.id)
    assert (session.created_by, session.ui_mode, session.delivery_method) == (
        "automation",
        "hosted",
        "email",
    )
    assert timeline_details(runtime, session.id, "created") == [{"by": "automation"}]

    advance_clock(client, 3600)
    scan(runtime)
    assert len(sessions_of(runtime, account.id)) == 1


def test_reminders_go_on_the_reminder_days_with_the_requests_link(
    client: stripe.StripeClient, platform: NewPlatform, runtime: Runtime, automation: None
) -> None:
    account = eligible_account(client, platform)
    scan(runtime)
    drain_outbox(runtime)
    [session] = sessions_of(runtime, account.id)
    link = hosted_url(runtime, session)
    assert link is not None

    advance_clock(client, 3 * DAY - 60)
    scan(runtime)
    assert reminder_rows(runtime, session.id) == []
    advance_clock(client, 60)
    scan(runtime)
    drain_outbox(runtime)
    advance_clock(client, 4 * DAY)
    scan(runtime)
    drain_outbox(runtime)
    advance_clock(client, 20 * DAY)
    scan(runtime)
    drain_outbox(runtime)

    assert len(sessions_of(runtime, account.id)) == 1
    assert [d["number"] for d in timeline_details(runtime, session.id, "reminder_sent")] == [2, 3]
    request, *reminders = mailbox_of(runtime, session.id)
    assert len(reminders) == 2
    assert all(link in m.text and m.subject.startswith("Reminder:") for m in reminders)
    assert link in request.text


def test_no_more_emails_than_the_cap(
    client: stripe.StripeClient, platform: NewPlatform, runtime: Runtime, automation: None
) -> None:
    set_policy(client, reminder_days=[1, 2, 3], max_emails_per_account=2)
    account = eligible_account(client, platform)
    scan(runtime)
    drain_outbox(runtime)
    for _ in range(4):
        advance_clock(client, DAY)
        scan(runtime)
        drain_outbox(runtime)
    [session] = sessions_of(runtime, account.id)
    assert len(mailbox_of(runtime, session.id)) == 2
    found = episode(runtime, account.id)
    assert found is not None and (found.emails, found.next_at) == (2, None)


def test_a_repaired_account_is_never_reminded_again(
    client: stripe.StripeClient,
    platform: NewPlatform,
    runtime: Runtime,
    automation: None,
    http: httpx.Client,
) -> None:
    customer = create_customer(client, email=platform.owner.email, name="Ada Lovelace")
    account = create_test_account(client, customer=customer.id)
    deactivate(client, account.id, "access_expired")
    scan(runtime)
    drain_outbox(runtime)
    [session] = sessions_of(runtime, account.id)
    link = hosted_url(runtime, session)
    assert link is not None
    pages = HostedPages(http, link)
    pages.open()
    pages.press_continue()
    assert "Your account is reconnected" in text_of(pages.sign_in(customer.id.lower(), "pw"))

    scan(runtime)
    assert episode(runtime, account.id) is None
    for _ in range(3):
        advance_clock(client, 3 * DAY)
        scan(runtime)
        drain_outbox(runtime)
    assert reminder_rows(runtime, session.id) == []
    # The request, then the repair's consent receipt; no reminder.
    request, receipt = mailbox_of(runtime, session.id)
    assert not request.subject.startswith("Reminder:")
    assert receipt.subject.startswith("Your consent receipt:")
    assert len(sessions_of(runtime, account.id)) == 1


def test_an_account_disconnected_while_it_waits_ends_its_episode_without_an_email(
    client: stripe.StripeClient, platform: NewPlatform, runtime: Runtime, automation: None
) -> None:
    set_policy(client, delay_seconds=3600)
    account = eligible_account(client, platform)
    scan(runtime)
    assert episode(runtime, account.id) is not None

    client.v1.financial_connections.accounts.disconnect(account.id)
    scan(runtime)
    assert episode(runtime, account.id) is None
    advance_clock(client, 3600)
    scan(runtime)
    assert sessions_of(runtime, account.id) == []


def test_an_account_disconnected_after_its_request_is_not_reminded(
    client: stripe.StripeClient, platform: NewPlatform, runtime: Runtime, automation: None
) -> None:
    account = eligible_account(client, platform)
    scan(runtime)
    drain_outbox(runtime)
    [session] = sessions_of(runtime, account.id)

    client.v1.financial_connections.accounts.disconnect(account.id)
    for _ in range(3):
        advance_clock(client, 3 * DAY)
        scan(runtime)
        drain_outbox(runtime)

    assert episode(runtime, account.id) is None
    assert timeline_details(runtime, session.id, "reminder_sent") == []
    assert [m.subject.startswith("Reminder:") for m in mailbox_of(runtime, session.id)] == [False]


def test_a_suppressed_address_ends_the_episode_and_its_queued_reminder(
    client: stripe.StripeClient, platform: NewPlatform, runtime: Runtime, automation: None
) -> None:
    account = eligible_account(client, platform)
    scan(runtime)
    drain_outbox(runtime)
    [session] = sessions_of(runtime, account.id)
    advance_clock(client, 3 * DAY)
    scan(runtime)
    assert len(reminder_rows(runtime, session.id)) == 1

    # The address bounces after the reminder was queued, before the worker sends it.
    with runtime.database.unit_of_work() as db:
        scope = load_platform_scope(db, platform.platform.id, False)
        suppress(
            db, scope, platform.owner.email, SuppressionReason.bounced, "550", None, scope.now()
        )
    drain_outbox(runtime)
    scan(runtime)

    assert len(mailbox_of(runtime, session.id)) == 1
    assert timeline_details(runtime, session.id, "reminder_sent") == []
    assert episode(runtime, account.id) is None


def test_an_account_about_to_expire_is_reminded_before_the_expiry(
    client: stripe.StripeClient,
    platform: NewPlatform,
    runtime: Runtime,
    automation: None,
    frozen_clock: FrozenClock,
) -> None:
    set_policy(client, reminder_days=[30], expiry_reminder_days=[14, 7])
    customer = create_customer(client, email=platform.owner.email)
    expiry = frozen_clock.at + dt.timedelta(days=20)
    account = create_test_account(
        client,
        customer=customer.id,
        account_numbers={"expected_expiry_date": int(expiry.timestamp())},
    )
    scan(runtime)
    drain_outbox(runtime)
    [session] = sessions_of(runtime, account.id)
    advance_clock(client, 6 * DAY)  # 14 days before the expiry
    scan(runtime)
    drain_outbox(runtime)
    advance_clock(client, 7 * DAY)  # 7 days before
    scan(runtime)
    drain_outbox(runtime)
    details = timeline_details(runtime, session.id, "reminder_sent")
    assert [(d["reminder"], d["number"]) for d in details] == [(EXPIRY, 2), (EXPIRY, 3)]


def test_an_incident_at_the_bank_holds_the_request_until_it_is_released(
    client: stripe.StripeClient, platform: NewPlatform, runtime: Runtime, automation: None
) -> None:
    account = eligible_account(client, platform)
    with runtime.database.unit_of_work() as db:
        scope = load_platform_scope(db, platform.platform.id, False)
        incident = Incident(
            id=ids.new("inc"),
            platform_id=scope.platform_id,
            livemode=False,
            institution_id=str(account["institution"]),
            opened_at=scope.now(),
            window_started_at=scope.now(),
            affected_count=10,
            accounts_count=10,
        )
        db.add(incident)
    scan(runtime)
    advance_clock(client, DAY)
    scan(runtime)
    assert sessions_of(runtime, account.id) == []
    assert episode(runtime, account.id) is not None

    with runtime.database.unit_of_work() as db:
        assert release(db, scope, incident.id, actor="owner@example.com")
    scan(runtime)
    assert len(sessions_of(runtime, account.id)) == 1


def test_an_incident_at_one_bank_leaves_the_automation_of_every_other_bank_running(
    client: stripe.StripeClient, platform: NewPlatform, runtime: Runtime, automation: None
) -> None:
    held = eligible_account(client, platform)
    holder = create_customer(client, email=platform.owner.email)
    elsewhere = create_test_account(client, customer=holder.id, institution="fcinst_test_oauth")
    deactivate(client, elsewhere.id, "access_expired")
    assert elsewhere["institution"] != held["institution"]
    with runtime.database.unit_of_work() as db:
        scope = load_platform_scope(db, platform.platform.id, False)
        db.add(
            Incident(
                id=ids.new("inc"),
                platform_id=scope.platform_id,
                livemode=False,
                institution_id=str(held["institution"]),
                opened_at=scope.now(),
                window_started_at=scope.now(),
                affected_count=10,
                accounts_count=10,
            )
        )

    scan(runtime)

    assert sessions_of(runtime, held.id) == []
    [requested] = sessions_of(runtime, elsewhere.id)
    assert requested.created_by == "automation"


def test_an_account_whose_bank_is_down_at_its_turn_is_requested_once_the_bank_is_back(
    client: stripe.StripeClient,
    platform: NewPlatform,
    runtime: Runtime,
    automation: None,
    outage: Callable[..., WireObject | None],
) -> None:
    set_policy(client, delay_seconds=600)
    account = eligible_account(client, platform)
    scan(runtime)
    outage("down")
    advance_clock(client, 600)
    scan(runtime)
    assert sessions_of(runtime, account.id) == []

    outage("active")
    scan(runtime)
    assert sessions_of(runtime, account.id) == []  # looked at again a quarter hour later
    advance_clock(client, 15 * 60)
    scan(runtime)
    assert len(sessions_of(runtime, account.id)) == 1


def test_a_longer_delay_set_meanwhile_applies_to_an_episode_already_started(
    client: stripe.StripeClient, platform: NewPlatform, runtime: Runtime, automation: None
) -> None:
    set_policy(client, delay_seconds=3600)
    account = eligible_account(client, platform)
    scan(runtime)
    set_policy(client, delay_seconds=7200)
    advance_clock(client, 3600)
    scan(runtime)
    assert sessions_of(runtime, account.id) == []
    advance_clock(client, 3600)
    scan(runtime)
    assert len(sessions_of(runtime, account.id)) == 1


def test_a_request_the_operator_cancelled_is_not_reminded_of_nor_asked_again(
    client: stripe.StripeClient, platform: NewPlatform, runtime: Runtime, automation: None
) -> None:
    account = eligible_account(client, platform)
    scan(runtime)
    drain_outbox(runtime)
    [session] = sessions_of(runtime, account.id)
    with runtime.database.unit_of_work() as db:
        scope = load_platform_scope(db, platform.platform.id, False)
        service = SessionService(db, scope, runtime, EventContext())
        assert service.cancel_request(session.id, actor="owner@example.com")
    for _ in range(3):
        advance_clock(client, 3 * DAY)
        scan(runtime)
    assert reminder_rows(runtime, session.id) == []
    assert len(sessions_of(runtime, account.id)) == 1
    found = episode(runtime, account.id)
    assert found is not None and found.next_at is None


def test_the_scan_runs_on_one_worker_once_a_minute(
    runtime: Runtime, frozen_clock: FrozenClock
) -> None:
    scan(runtime, "worker-a")
    assert run_automatic_relink(runtime, "worker-b") is None
    frozen_clock.advance(seconds=60)
    assert run_automatic_relink(runtime, "worker-b") is not None


def test_a_holder_with_several_broken_accounts_gets_one_automatic_email_counted_per_account(
    client: stripe.StripeClient,
    platform: NewPlatform,
    runtime: Runtime,
    automation: None,
    smtp: SmtpServer,
    smtp_worker: OutboxDispatcher,
) -> None:
    _, accounts = broken_accounts_of_one_holder(client, platform.owner.email)
    scan(runtime)
    smtp_worker.drain()

    [email] = smtp.handler.to(platform.owner.email)
    assert "/relinks/" in body_of(email.message)
    # The automation's, so one a mailing list's unsubscribe button can leave.
    unsubscribe = str(email.message["List-Unsubscribe"]).strip()
    assert unsubscribe.startswith("<") and "/reminders/" in unsubscribe
    assert email.message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert unsubscribe.strip("<>") in body_of(email.message)
    sessions = [s for a in accounts for s in sessions_of(runtime, a.id)]
    assert len(sessions) == 3 and len({s.bundle_id for s in sessions}) == 1
    assert all(s.created_by == "automation" and s.bundle_id for s in sessions)
    # The cap counts the bundle's one email once for each account it asked about.
    for account in accounts:
        found = episode(runtime, account.id)
        assert found is not None and found.emails == 1


def _reminders_to(smtp: SmtpServer, address: str) -> list[Received]:
    """The reminders the SMTP server received for ``address``, oldest first."""
    return [
        r for r in smtp.handler.to(address) if str(r.message["Subject"]).startswith("Reminder:")
    ]


def test_a_bundles_reminder_is_one_email_listing_what_is_left_with_the_bundles_link(
    client: stripe.StripeClient,
    platform: NewPlatform,
    runtime: Runtime,
    automation: None,
    smtp: SmtpServer,
    smtp_worker: OutboxDispatcher,
    http: httpx.Client,
) -> None:
    holder, accounts = broken_accounts_of_one_holder(client, platform.owner.email)
    scan(runtime)
    smtp_worker.drain()
    [request] = smtp.handler.to(platform.owner.email)
    sessions = [s for a in accounts for s in sessions_of(runtime, a.id)]
    bundle_link = next(word for word in body_of(request.message).split() if "/relinks/" in word)
    # The holder repairs one of the three from its own link before the reminder day.
    repaired = sessions[0]
    link = hosted_url(runtime, repaired)
    assert link is not None
    pages = HostedPages(http, link)
    pages.open()
    pages.press_continue()
    done = pages.sign_in(holder.id.lower(), "pw")
    assert done.headers["location"] == bundle_link  # back to the bundle's page
    assert "1 of 3 repaired" in text_of(http.get(bundle_link))

    advance_clock(client, 3 * DAY)
    scan(runtime)
    smtp_worker.drain()

    reminders = _reminders_to(smtp, platform.owner.email)
    assert [str(r.message["Subject"]) for r in reminders] == [
        f"Reminder: reconnect 2 accounts to {platform.platform.name}"
    ]
    text = body_of(reminders[0].message)
    assert bundle_link in text
    assert text.count("Bank:") == 2
    assert "we asked you to reconnect some of your accounts" in text
    assert reminders[0].message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    for session in sessions[1:]:
        [detail] = timeline_details(runtime, session.id, "reminder_sent")
        assert (detail["reminder"], detail["number"]) == ("pending", 2)
    assert timeline_details(runtime, repaired.id, "reminder_sent") == []
    # Counted once for each account it asked about, as the request was.
    for account in accounts[1:]:
        found = episode(runtime, account.id)
        assert found is not None and found.emails == 2


def test_a_bundles_reminder_with_one_account_left_is_that_accounts_own_reminder(
    client: stripe.StripeClient,
    platform: NewPlatform,
    runtime: Runtime,
    automation: None,
    smtp: SmtpServer,
    smtp_worker: OutboxDispatcher,
) -> None:
    _, accounts = broken_accounts_of_one_holder(client, platform.owner.email)
    scan(runtime)
    smtp_worker.drain()
    sessions = [s for a in accounts for s in sessions_of(runtime, a.id)]
    advance_clock(client, 3 * DAY)
    scan(runtime)
    # Two are repaired or closed before the worker sends the reminder queued for three.
    for account in accounts[1:]:
        client.v1.financial_connections.accounts.disconnect(account.id)

    smtp_worker.drain()

    [reminder] = _reminders_to(smtp, platform.owner.email)
    assert "/relinks/" not in body_of(reminder.message)
    link = hosted_url(runtime, sessions[0])
    assert link is not None and link in body_of(reminder.message)
    assert len(timeline_details(runtime, sessions[0].id, "reminder_sent")) == 1
    assert all(timeline_details(runtime, s.id, "reminder_sent") == [] for s in sessions[1:])
