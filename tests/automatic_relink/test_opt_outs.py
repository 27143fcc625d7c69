"""A holder's opt-out of reminders stops the automation for them, and no one else: the
automatic emails carry the one-click address (RFC 2369/8058), an operator's do not, and
every relink email says in its footer how to stop reminders."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
import stripe

from relink.email.opt_outs import clear_opt_out
from relink.kit.clock import FrozenClock
from relink.kit.provenance import EventContext
from relink.models import DeliveryState
from relink.platforms.service import NewPlatform
from relink.runtime import Runtime
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
from tests.email.factories import delivery, eligible_account, request_relink_email
from tests.email.opt_out_factories import opt_outs_of, reminders_url
from tests.email.smtp_server import Received, SmtpServer
from tests.factories import advance_clock, body_of, drain_outbox, timeline_details
from tests.hosted.factories import retrieve_session

ONE_CLICK = {"List-Unsubscribe": "One-Click"}


@pytest.fixture
def automation(client: stripe.StripeClient, frozen_clock: FrozenClock) -> Iterator[None]:
    set_policy(client, enabled="true", delay_seconds=0)
    yield
    set_policy(client, enabled="false")


def _holder_of(account: stripe.financial_connections.Account) -> str:
    return str(account.account_holder.customer)  # type: ignore[union-attr]


def _about(smtp: SmtpServer, address: str, last4: str) -> list[Received]:
    """The emails the SMTP server accepted for ``address`` about the account ``last4``."""
    return [r for r in smtp.handler.to(address) if f"••••{last4}" in body_of(r.message)]


def test_a_one_click_opt_out_stops_that_holders_reminders_and_no_one_elses(
    client: stripe.StripeClient,
    platform: NewPlatform,
    runtime: Runtime,
    smtp: SmtpServer,
    smtp_runtime: Runtime,
    automation: None,
) -> None:
    address = platform.owner.email
    opted = eligible_account(client, platform, last4="1111", name="Opted Out")
    other = eligible_account(client, platform, last4="2222", name="Still Reminded")
    scan(runtime)
    drain_outbox(smtp_runtime)
    [request] = _about(smtp, address, "1111")
    assert len(_about(smtp, address, "2222")) == 1

    # The receiver's own Unsubscribe button: a POST to the header's address, no cookies.
    # (A long value is folded onto the next line: what a receiver unfolds.)
    unsubscribe = str(request.message["List-Unsubscribe"]).strip()
    assert unsubscribe.startswith("<") and unsubscribe.endswith(">")
    answer = httpx.post(unsubscribe[1:-1], data=ONE_CLICK, timeout=15)
    assert answer.status_code == 200

    for days in (3, 4, 10):
        advance_clock(client, days * DAY)
        scan(runtime)
        drain_outbox(smtp_runtime)

    assert len(_about(smtp, address, "1111")) == 1  # the request only: no reminder
    assert len(_about(smtp, address, "2222")) == 3  # the request and both reminders
    assert episode(runtime, opted.id) is None
    assert episode(runtime, other.id) is not None
    # Only the reminders stopped: the holder's request is still open to finish.
    [session] = sessions_of(runtime, opted.id)
    assert retrieve_session(client, session.id)["status"] == "pending"
    assert timeline_details(runtime, session.id, "reminder_sent") == []


def test_a_reminder_queued_before_the_opt_out_is_not_sent(
    client: stripe.StripeClient, platform: NewPlatform, runtime: Runtime, automation: None
) -> None:
    account = eligible_account(client, platform)
    scan(runtime)
    drain_outbox(runtime)
    [session] = sessions_of(runtime, account.id)
    advance_clock(client, 3 * DAY)
    scan(runtime)
    assert len(reminder_rows(runtime, session.id)) == 1

    url = reminders_url(runtime, platform.platform.id, _holder_of(account))
    assert httpx.post(url, data=ONE_CLICK, timeout=15).status_code == 200
    drain_outbox(runtime)

    assert len(mailbox_of(runtime, session.id)) == 1
    assert timeline_details(runtime, session.id, "reminder_sent") == []


def test_the_automations_request_is_not_sent_after_an_opt_out_but_a_resend_is(
    client: stripe.StripeClient, platform: NewPlatform, runtime: Runtime, automation: None
) -> None:
    account = eligible_account(client, platform)
    scan(runtime)  # the request's email is queued, not sent yet
    [session] = sessions_of(runtime, account.id)
    url = reminders_url(runtime, platform.platform.id, _holder_of(account))
    assert httpx.post(url, data=ONE_CLICK, timeout=15).status_code == 200

    drain_outbox(runtime)

    assert mailbox_of(runtime, session.id) == []
    state = delivery(runtime, session.id)
    assert state is not None and state.state == DeliveryState.failed
    assert state.last_reply is not None and "opted out of reminders" in state.last_reply
    # The operator's "Send again" is theirs, not the automation's: it goes out.
    with runtime.database.unit_of_work() as db:
        scope = load_platform_scope(db, platform.platform.id, False)
        assert SessionService(db, scope, runtime, EventContext()).resend_given_up_email(session.id)
    drain_outbox(runtime)
    assert len(mailbox_of(runtime, session.id)) == 1


def test_an_opted_out_holder_is_not_requested_until_the_opt_out_is_cleared(
    client: stripe.StripeClient, platform: NewPlatform, runtime: Runtime, automation: None
) -> None:
    account = eligible_account(client, platform)
    holder = _holder_of(account)
    url = reminders_url(runtime, platform.platform.id, holder)
    assert httpx.post(url, data=ONE_CLICK, timeout=15).status_code == 200
    for _ in range(2):
        scan(runtime)
        advance_clock(client, DAY)
    assert sessions_of(runtime, account.id) == []
    assert episode(runtime, account.id) is None

    with runtime.database.unit_of_work() as db:
        scope = load_platform_scope(db, platform.platform.id, False)
        assert clear_opt_out(db, scope, holder, actor="ops@example.com", now=scope.now())
    scan(runtime)
    [session] = sessions_of(runtime, account.id)
    assert session.created_by == "automation"
    [row] = opt_outs_of(runtime, holder)
    assert row.cleared_by == "ops@example.com"


def test_automatic_emails_carry_the_one_click_headers_and_an_operators_do_not(
    client: stripe.StripeClient,
    platform: NewPlatform,
    runtime: Runtime,
    smtp: SmtpServer,
    smtp_runtime: Runtime,
    automation: None,
) -> None:
    address = platform.owner.email
    automatic = eligible_account(client, platform, last4="3333")
    scan(runtime)
    drain_outbox(smtp_runtime)
    advance_clock(client, 3 * DAY)
    scan(runtime)
    drain_outbox(smtp_runtime)
    set_policy(client, enabled="false")
    manual = eligible_account(client, platform, last4="4444")
    request_relink_email(client, manual)
    drain_outbox(smtp_runtime)

    request, reminder = _about(smtp, address, "3333")
    assert reminder.message["Subject"].startswith("Reminder:")
    expected = reminders_url(runtime, platform.platform.id, _holder_of(automatic))
    for received in (request, reminder):
        assert str(received.message["List-Unsubscribe"]).strip() == f"<{expected}>"
        assert received.message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert expected in body_of(received.message)
        assert f'href="{expected}"' in body_of(received.message, "html")

    [by_hand] = _about(smtp, address, "4444")
    assert by_hand.message["List-Unsubscribe"] is None
    assert by_hand.message["List-Unsubscribe-Post"] is None
    footer = body_of(by_hand.message).replace("\r\n", "\n").split("\n-- \n", 1)[1]
    own = reminders_url(runtime, platform.platform.id, _holder_of(manual))
    assert f"To stop reminder emails, open this page:\n{own}" in footer
    assert httpx.get(own, timeout=15).status_code == 200
