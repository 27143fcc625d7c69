from __future__ import annotations

import threading
import time

import stripe
from sqlalchemy import select

from relink.hosted.scans import SCOPE_SCANS
from relink.kit.provenance import EventContext
from relink.lifecycle.scans import run_scope_scans
from relink.models import Event
from relink.platforms.service import NewPlatform
from relink.runtime import Runtime
from relink.tenancy import load_platform_scope
from tests.factories import (
    advance_clock,
    create_customer,
    create_test_account,
    raw,
    wire,
)

DAY = 86400


def _event_types(runtime: Runtime, platform: NewPlatform, account_id: str) -> list[str]:
    with runtime.database.read_only() as session:
        return list(
            session.scalars(
                select(Event.type)
                .where(Event.platform_id == platform.platform.id, Event.object_id == account_id)
                .order_by(Event.id)
            )
        )


def test_tan_expiry_warning_is_emitted_once_then_the_tan_expires_when_its_date_passes(
    client: stripe.StripeClient, runtime: Runtime, platform: NewPlatform
) -> None:
    customer = create_customer(client, email=platform.owner.email)
    expiry = int(time.time()) + 40 * DAY
    account = create_test_account(
        client,
        customer=customer.id,
        institution="fcinst_tokenized_account_numbers",
        account_numbers={"expected_expiry_date": expiry},
    )
    advance_clock(client, 11 * DAY)
    advance_clock(client, 60)  # the scan runs again: no second warning
    types = _event_types(runtime, platform, account.id)
    assert types.count("financial_connections.account.upcoming_account_number_expiry") == 1

    advance_clock(client, 30 * DAY)
    refreshed = client.v1.financial_connections.accounts.retrieve(account.id)
    assert refreshed.account_numbers is not None
    assert refreshed.account_numbers[0].status == "expired"
    types = _event_types(runtime, platform, account.id)
    assert types[-1] == "financial_connections.account.account_numbers_updated"
    assert types.count("financial_connections.account.upcoming_account_number_expiry") == 1


def test_expected_deactivation_warns_thirty_days_ahead_and_deactivates_when_the_date_passes(
    client: stripe.StripeClient, runtime: Runtime, platform: NewPlatform
) -> None:
    customer = create_customer(client, email=platform.owner.email)
    account = create_test_account(
        client, customer=customer.id, institution="fcinst_eventually_requires_reauth"
    )
    raw(
        client,
        "post",
        f"/v1/test_helpers/financial_connections/accounts/{account.id}/update_expected_deactivation",
        expected_deactivation_date=int(time.time()) + 45 * DAY,
    )
    advance_clock(client, 20 * DAY)
    assert "financial_connections.account.upcoming_deactivation" in _event_types(
        runtime, platform, account.id
    )

    advance_clock(client, 30 * DAY)
    refreshed = client.v1.financial_connections.accounts.retrieve(account.id)
    assert refreshed.status == "inactive"
    assert wire(refreshed).status_details.inactive.cause == "access_expired"
    assert wire(refreshed).status_details.inactive.action == "relink_required"


def test_scans_running_twice_at_once_emit_each_event_once(
    client: stripe.StripeClient, runtime: Runtime, platform: NewPlatform
) -> None:
    customer = create_customer(client, email=platform.owner.email)
    expiry = int(time.time()) + 10 * DAY
    accounts = [
        create_test_account(
            client, customer=customer.id, account_numbers={"expected_expiry_date": expiry}
        )
        for _ in range(5)
    ]

    def scan() -> None:
        with runtime.database.unit_of_work() as session:
            scope = load_platform_scope(session, platform.platform.id, False)
            run_scope_scans(session, scope, EventContext(), SCOPE_SCANS)

    threads = [threading.Thread(target=scan) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for account in accounts:
        types = _event_types(runtime, platform, account.id)
        assert types.count("financial_connections.account.upcoming_account_number_expiry") == 1
