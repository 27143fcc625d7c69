"""The reminder email: the holder's language, the request's link, and the checks made
right before it is sent."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import stripe
from babel.dates import format_date

from relink.automatic_relink.tasks import AutomationResult
from relink.kit.clock import FrozenClock
from relink.models import OutboxMessage, OutboxStatus, Session
from relink.outbox.store import wake
from relink.platforms.service import NewPlatform
from relink.runtime import Runtime
from relink.sessions.schemas import hosted_url
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
from tests.factories import WireObject, advance_clock, drain_outbox, timeline_details


@pytest.fixture
def automation(client: stripe.StripeClient, frozen_clock: FrozenClock) -> Iterator[None]:
    set_policy(client, enabled="true", delay_seconds=0)
    yield
    set_policy(client, enabled="false")


def _reminded_after_three_days(
    client: stripe.StripeClient, platform: NewPlatform, runtime: Runtime, **holder: Any
) -> Session:
    """An automatic request whose email went out, and its first reminder queued."""
    account = eligible_account(client, platform, **holder)
    scan(runtime)
    drain_outbox(runtime)
    [session] = sessions_of(runtime, account.id)
    advance_clock(client, 3 * DAY)
    scan(runtime)
    return session


def test_a_reminder_speaks_the_holders_language_with_the_same_link(
    client: stripe.StripeClient, platform: NewPlatform, runtime: Runtime, automation: None
) -> None:
    session = _reminded_after_three_days(
        client, platform, runtime, name="Ada Lovelace", preferred_locales=["de"]
    )
    link = hosted_url(runtime, session)
    drain_outbox(runtime)
    request, reminder = mailbox_of(runtime, session.id)
    assert reminder.subject.startswith("Erinnerung: Verbinden Sie Ihr Konto bei ")
    assert "Hallo Ada Lovelace," in reminder.text
    assert "haben wir Sie gebeten, Ihr Konto erneut zu verbinden" in reminder.text
    assert link is not None and link in reminder.text and link in request.text
    [sent] = timeline_details(runtime, session.id, "reminder_sent")
    assert sent["by"] == "automation" and sent["message_id"] == reminder.message_id


def test_a_reminder_says_when_and_for_what_the_account_was_first_connected(
    client: stripe.StripeClient,
    platform: NewPlatform,
    runtime: Runtime,
    automation: None,
    frozen_clock: FrozenClock,
) -> None:
    connected_on = format_date(frozen_clock(), format="long", locale="en")
    session = _reminded_after_three_days(client, platform, runtime, preferred_locales=["en"])
    drain_outbox(runtime)
    _, reminder = mailbox_of(runtime, session.id)
    sentence = (
        "You connected your account ••••6789 at Bank (Non-OAuth) to Acme Lending on"
        f" {connected_on} for account and routing numbers for payments."
    )
    assert sentence in " ".join(reminder.text.split())
    assert sentence in " ".join(reminder.html.split())


def test_a_reminder_waits_while_the_bank_is_down_and_goes_out_once_it_is_back(
    client: stripe.StripeClient,
    platform: NewPlatform,
    runtime: Runtime,
    automation: None,
    outage: Callable[..., WireObject | None],
) -> None:
    session_id = _reminded_after_three_days(client, platform, runtime).id
    outage("down")
    drain_outbox(runtime)
    assert len(mailbox_of(runtime, session_id)) == 1
    [row] = reminder_rows(runtime, session_id)
    assert row.status == "pending"

    outage("active")
    with runtime.database.unit_of_work() as db:
        wake(db, OutboxMessage.id == row.id)
    drain_outbox(runtime)
    assert len(mailbox_of(runtime, session_id)) == 2


def test_a_replayed_reminder_is_not_sent_twice(
    client: stripe.StripeClient, platform: NewPlatform, runtime: Runtime, automation: None
) -> None:
    session_id = _reminded_after_three_days(client, platform, runtime).id
    drain_outbox(runtime)
    [row] = reminder_rows(runtime, session_id)
    with runtime.database.unit_of_work() as db:
        stored = db.get(OutboxMessage, row.id)
        assert stored is not None
        stored.status = OutboxStatus.pending
    drain_outbox(runtime)
    assert len(mailbox_of(runtime, session_id)) == 2
    assert len(timeline_details(runtime, session_id, "reminder_sent")) == 1


def test_no_reminder_before_the_requests_own_email_went_out(
    client: stripe.StripeClient, platform: NewPlatform, runtime: Runtime, automation: None
) -> None:
    account = eligible_account(client, platform)
    scan(runtime)  # the request's email stays queued: the outbox is not run
    [session] = sessions_of(runtime, account.id)
    advance_clock(client, 3 * DAY)
    result: AutomationResult = scan(runtime)
    assert result.reminded == 0
    assert reminder_rows(runtime, session.id) == []
    found = episode(runtime, account.id)
    assert found is not None and found.emails == 1
