"""Incident detection: many of one bank's accounts breaking at once holds automatic
outreach for that bank, tells the owners once, shows a banner, until an operator releases it."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
import stripe
from sqlalchemy import select

from relink.institutions.incidents import (
    INCIDENT_EMAIL,
    Thresholds,
    detect_incidents,
    held_institutions,
    open_incidents,
    release,
    run_incident_scan,
)
from relink.models import Incident, MailboxMessage, OutboxMessage
from relink.outbox.dispatcher import OutboxDispatcher
from relink.platforms.service import NewPlatform
from relink.runtime import Runtime
from relink.tenancy import Scope
from relink.worker import HANDLERS
from tests.conftest import make_platform
from tests.factories import (
    create_customer,
    create_test_account,
    deactivate,
    make_scan_due,
    runtime_with,
)

BANK = "fcinst_bank_non_oauth"
OTHER_BANK = "fcinst_test_oauth"
# Three breaks of at least half the bank's accounts within an hour.
THRESHOLDS = Thresholds(window=dt.timedelta(hours=1), min_accounts=3, min_share=0.5)


def _accounts(client: stripe.StripeClient, institution: str, count: int) -> list[str]:
    return [
        create_test_account(client, customer=create_customer(client).id, institution=institution).id
        for _ in range(count)
    ]


def _break(client: stripe.StripeClient, account_ids: list[str]) -> None:
    for account_id in account_ids:
        deactivate(client, account_id, "access_expired")


def _scope(platform: NewPlatform) -> Scope:
    return Scope(platform.platform.id, False)


def _detect(runtime: Runtime, scope: Scope, *, later: dt.timedelta = dt.timedelta()) -> list[str]:
    with runtime.database.unit_of_work() as db:
        opened = detect_incidents(db, scope, THRESHOLDS, scope.now() + later)
        return [incident.institution_id for incident in opened]


def _held(runtime: Runtime, scope: Scope) -> set[str]:
    with runtime.database.read_only() as db:
        return set(db.scalars(held_institutions(scope)))


def _incident_emails(runtime: Runtime, platform: NewPlatform) -> list[OutboxMessage]:
    with runtime.database.read_only() as db:
        return list(
            db.scalars(
                select(OutboxMessage).where(
                    OutboxMessage.platform_id == platform.platform.id,
                    OutboxMessage.kind == INCIDENT_EMAIL,
                )
            )
        )


def test_many_breaks_at_one_bank_open_one_incident_that_holds_only_that_bank(
    runtime: Runtime, client: stripe.StripeClient, platform: NewPlatform
) -> None:
    at_bank = _accounts(client, BANK, 4)
    at_other = _accounts(client, OTHER_BANK, 2)
    _break(client, at_bank[:3])
    _break(client, at_other[:1])
    scope = _scope(platform)

    assert _detect(runtime, scope) == [BANK]
    assert _held(runtime, scope) == {BANK}
    with runtime.database.read_only() as db:
        [incident] = open_incidents(db, scope)
    assert (incident.affected_count, incident.accounts_count) == (3, 4)
    # Found again by the next scan: still one incident, and the owner told once.
    assert _detect(runtime, scope) == []
    assert len(_incident_emails(runtime, platform)) == 1


def test_the_owner_is_told_by_email_which_bank_and_how_many(
    runtime: Runtime, client: stripe.StripeClient, platform: NewPlatform
) -> None:
    _break(client, _accounts(client, BANK, 3))
    _detect(runtime, _scope(platform))
    OutboxDispatcher(runtime, HANDLERS).drain()
    with runtime.database.read_only() as db:
        [told] = db.scalars(
            select(MailboxMessage).where(
                MailboxMessage.platform_id == platform.platform.id,
                MailboxMessage.to == platform.owner.email,
            )
        )
    assert "Possible incident at" in told.subject
    assert "3 accounts at" in told.text and "out of 3 connected there" in told.text
    assert "on hold" in told.text


def test_too_few_breaks_or_too_small_a_share_is_no_incident(
    runtime: Runtime, client: stripe.StripeClient, platform: NewPlatform
) -> None:
    accounts = _accounts(client, BANK, 7)
    _break(client, accounts[:2])
    scope = _scope(platform)
    assert _detect(runtime, scope) == []  # 2 < 3 accounts
    _break(client, accounts[2:3])
    assert _detect(runtime, scope) == []  # 3 of 7 < half
    _break(client, accounts[3:4])
    assert _detect(runtime, scope) == [BANK]  # 4 of 7


def test_a_closed_account_is_the_holders_doing_not_the_banks(
    runtime: Runtime, client: stripe.StripeClient, platform: NewPlatform
) -> None:
    for account_id in _accounts(client, BANK, 3):
        deactivate(client, account_id, "account_closed")
    assert _detect(runtime, _scope(platform)) == []


def test_breaks_older_than_the_window_are_no_incident(
    runtime: Runtime, client: stripe.StripeClient, platform: NewPlatform
) -> None:
    _break(client, _accounts(client, BANK, 3))
    assert _detect(runtime, _scope(platform), later=dt.timedelta(hours=1, minutes=1)) == []


def test_releasing_ends_the_hold_and_the_same_breaks_do_not_open_it_again(
    runtime: Runtime, client: stripe.StripeClient, platform: NewPlatform
) -> None:
    accounts = _accounts(client, BANK, 6)
    _break(client, accounts[:3])
    scope = _scope(platform)
    _detect(runtime, scope)
    with runtime.database.read_only() as db:
        [incident] = open_incidents(db, scope)
    with runtime.database.unit_of_work() as db:
        assert release(db, scope, incident.id, actor="ops@example.test")
    with runtime.database.unit_of_work() as db:
        assert not release(db, scope, incident.id, actor="ops@example.test")
    assert _held(runtime, scope) == set()
    assert _detect(runtime, scope) == []
    # New breaks after the release are counted on their own.
    _break(client, accounts[3:6])
    assert _detect(runtime, scope) == [BANK]


def test_the_affected_count_follows_repairs_and_new_breaks(
    runtime: Runtime, client: stripe.StripeClient, platform: NewPlatform
) -> None:
    accounts = _accounts(client, BANK, 5)
    _break(client, accounts[:3])
    scope = _scope(platform)
    _detect(runtime, scope)
    _break(client, accounts[3:4])
    _detect(runtime, scope)
    with runtime.database.read_only() as db:
        [incident] = open_incidents(db, scope)
    assert incident.affected_count == 4


def test_another_platform_neither_sees_nor_releases_the_incident(
    runtime: Runtime, client: stripe.StripeClient, platform: NewPlatform
) -> None:
    _break(client, _accounts(client, BANK, 3))
    scope = _scope(platform)
    _detect(runtime, scope)
    with runtime.database.unit_of_work() as db:
        other = Scope(make_platform(db).platform.id, False)
    with runtime.database.read_only() as db:
        [incident] = open_incidents(db, scope)
        assert open_incidents(db, other) == []
        assert open_incidents(db, Scope(platform.platform.id, True)) == []
    with runtime.database.unit_of_work() as db:
        assert not release(db, other, incident.id, actor="intruder@example.test")
    assert _held(runtime, scope) == {BANK}
    assert _held(runtime, other) == set()


def test_two_workers_detecting_at_once_open_one_incident_and_one_email(
    runtime: Runtime, client: stripe.StripeClient, platform: NewPlatform
) -> None:
    _break(client, _accounts(client, BANK, 3))
    scope = _scope(platform)
    start = threading.Barrier(2)
    found: list[list[str]] = []

    def scan() -> None:
        with runtime.database.unit_of_work() as db:
            start.wait()
            found.append(
                [i.institution_id for i in detect_incidents(db, scope, THRESHOLDS, scope.now())]
            )

    threads = [threading.Thread(target=scan) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(found) == [[], [BANK]]
    with runtime.database.read_only() as db:
        incidents = db.scalars(
            select(Incident).where(Incident.platform_id == platform.platform.id)
        ).all()
    assert len(incidents) == 1
    assert len(_incident_emails(runtime, platform)) == 1


def test_the_worker_scan_runs_once_a_minute_with_the_settings_thresholds(
    runtime: Runtime, client: stripe.StripeClient, platform: NewPlatform
) -> None:
    _break(client, _accounts(client, BANK, 2))
    tuned = runtime_with(
        runtime.settings, incident_min_accounts=2, incident_min_share=0.5, incident_window_minutes=5
    )
    try:
        opened = run_incident_scan(tuned, "worker-a")
        # Within the minute, another worker's turn has not come.
        again = run_incident_scan(tuned, "worker-b")
    finally:
        tuned.database.engine.dispose()
    assert opened is not None and opened >= 1
    assert _held(runtime, _scope(platform)) == {BANK}
    assert again is None


def _open(runtime: Runtime, scope: Scope) -> list[str]:
    with runtime.database.read_only() as db:
        return [incident.id for incident in open_incidents(db, scope)]


@pytest.fixture(autouse=True)
def _scans_due(runtime: Runtime) -> None:
    """Each test starts with the incident scan due (another test may have run it)."""
    make_scan_due(runtime, "incidents")
