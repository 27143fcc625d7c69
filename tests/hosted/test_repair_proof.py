"""Proof of repair: after a succeeded relink the worker refreshes the repaired account
at the sandbox bank (over HTTP); the session's timeline records the outcome and the
dashboard flags an account whose first refresh failed."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import closing

import httpx
import pytest
import stripe
from sqlalchemy import select, update

from relink.kit import clock
from relink.models import OutboxMessage, OutboxStatus
from relink.outbox.handlers import DEFAULT_MAX_ATTEMPTS
from relink.platforms.service import NewPlatform
from relink.runtime import Runtime
from tests.conftest import RunningServer
from tests.dashboard.factories import signed_in_client
from tests.factories import (
    create_customer,
    create_test_account,
    deactivate,
    drain_outbox,
    play_outage,
    raw,
    timeline_details,
    timeline_kinds,
    wire,
)
from tests.hosted.factories import RelinkCase, relink_session
from tests.hosted.pages import HostedPages, text_of


@pytest.fixture
def bank_back_up(client: stripe.StripeClient) -> Iterator[None]:
    """Institutions are shared: whatever a test plays, the bank is back up afterwards."""
    yield
    play_outage(client, "active")


def _relinked(
    client: stripe.StripeClient,
    platform: NewPlatform,
    http: httpx.Client,
    *,
    with_account: bool = True,
) -> RelinkCase:
    """An account with balances permission, broken, then relinked through the hosted pages
    (a request for the account, or for its whole authorization)."""
    customer = create_customer(client, email=platform.owner.email, name="Ada Lovelace")
    account = create_test_account(
        client,
        customer=customer.id,
        institution="fcinst_bank_non_oauth",
        permissions=["payment_method", "balances"],
    )
    broken = deactivate(client, account.id, "access_expired")
    case = RelinkCase(customer, broken, relink_session(client, broken, with_account=with_account))
    pages = HostedPages(http, case.url)
    pages.open()
    pages.press_continue()
    assert "Your account is reconnected" in text_of(pages.sign_in(case.bank_username, "pw"))
    return case


def _revoke_at_bank(client: stripe.StripeClient, case: RelinkCase) -> None:
    """The holder revokes the consent the relink just gave, at the bank."""
    authorization = case.account["authorization"]
    raw(
        client,
        "post",
        f"/v1/test_helpers/financial_connections/authorizations/{authorization}/revoke",
    )


def _flags(server: RunningServer, email: str, account_id: str) -> tuple[str, str]:
    with closing(signed_in_client(server, email)) as dashboard:
        return text_of(dashboard.get("/accounts")), text_of(
            dashboard.get(f"/accounts/{account_id}")
        )


def test_the_worker_refreshes_the_repaired_account_and_the_timeline_says_data_refreshed(
    client: stripe.StripeClient, platform: NewPlatform, http: httpx.Client, runtime: Runtime
) -> None:
    case = _relinked(client, platform, http)
    assert timeline_kinds(runtime, case.session.id)[-1] == "succeeded"

    drain_outbox(runtime)

    assert timeline_kinds(runtime, case.session.id)[-2:] == ["succeeded", "data_refreshed"]
    [detail] = timeline_details(runtime, case.session.id, "data_refreshed")
    assert detail == {"account": case.account.id, "features": ["balance"]}
    account = client.v1.financial_connections.accounts.retrieve(case.account.id)
    assert account.status == "active"
    assert account.balance_refresh is not None and account.balance_refresh.status == "succeeded"
    assert account.balance is not None


def test_a_refresh_the_bank_refuses_after_the_repair_is_refresh_failed_and_flagged(
    client: stripe.StripeClient,
    platform: NewPlatform,
    http: httpx.Client,
    runtime: Runtime,
    server: RunningServer,
) -> None:
    case = _relinked(client, platform, http)
    # The holder revokes the new consent at the bank before the worker gets to it.
    _revoke_at_bank(client, case)

    drain_outbox(runtime)

    assert timeline_kinds(runtime, case.session.id)[-2:] == ["succeeded", "refresh_failed"]
    [detail] = timeline_details(runtime, case.session.id, "refresh_failed")
    assert detail == {
        "account": case.account.id,
        "reason": "access_denied",
        "error": "AccessDenied",
    }
    account = wire(client.v1.financial_connections.accounts.retrieve(case.account.id))
    assert (account.status, account.status_details.inactive.cause) == ("inactive", "access_denied")

    listed, page = _flags(server, platform.owner.email, case.account.id)
    assert "Repair not confirmed: the first refresh failed" in listed
    assert (
        "Repair not confirmed: the first data refresh after the relink failed "
        "(the bank refused access again)."
    ) in page


def test_an_account_whose_repair_refresh_succeeded_is_not_flagged(
    client: stripe.StripeClient,
    platform: NewPlatform,
    http: httpx.Client,
    runtime: Runtime,
    server: RunningServer,
) -> None:
    case = _relinked(client, platform, http)
    drain_outbox(runtime)
    listed, page = _flags(server, platform.owner.email, case.account.id)
    assert "Repair not confirmed" not in listed
    assert "Repair not confirmed" not in page


def test_an_account_with_only_payment_method_is_proved_by_its_account_numbers(
    client: stripe.StripeClient, platform: NewPlatform, http: httpx.Client, runtime: Runtime
) -> None:
    customer = create_customer(client, email=platform.owner.email)
    account = create_test_account(client, customer=customer.id, institution="fcinst_bank_non_oauth")
    broken = deactivate(client, account.id, "access_expired")
    session = relink_session(client, broken)
    pages = HostedPages(http, str(session["url"]))
    pages.open()
    pages.press_continue()
    pages.sign_in(customer.id.lower(), "pw")
    with runtime.database.read_only() as db:
        [proof] = db.scalars(
            select(OutboxMessage).where(
                OutboxMessage.kind == "connector.refresh",
                OutboxMessage.platform_id == platform.platform.id,
            )
        )
    assert proof.payload == {"account_id": account.id, "features": [], "after_repair": session.id}

    drain_outbox(runtime)

    [detail] = timeline_details(runtime, session.id, "data_refreshed")
    assert detail == {"account": account.id, "features": []}


def test_a_whole_authorization_relink_whose_refresh_fails_flags_the_account(
    client: stripe.StripeClient,
    platform: NewPlatform,
    http: httpx.Client,
    runtime: Runtime,
    server: RunningServer,
) -> None:
    # A request for the authorization names no account: its proof is told per account.
    case = _relinked(client, platform, http, with_account=False)
    _revoke_at_bank(client, case)

    drain_outbox(runtime)

    [detail] = timeline_details(runtime, case.session.id, "refresh_failed")
    assert (detail["account"], detail["reason"]) == (case.account.id, "access_denied")
    listed, page = _flags(server, platform.owner.email, case.account.id)
    assert "Repair not confirmed: the first refresh failed" in listed
    assert "(the bank refused access again)" in page


@pytest.mark.usefixtures("bank_back_up")
def test_a_bank_down_for_every_refresh_attempt_fails_the_proof_for_good(
    client: stripe.StripeClient,
    platform: NewPlatform,
    http: httpx.Client,
    runtime: Runtime,
    server: RunningServer,
) -> None:
    case = _relinked(client, platform, http)
    play_outage(client, "down")

    # Each attempt finds the bank down and is put off; let the time pass between them.
    for _ in range(DEFAULT_MAX_ATTEMPTS):
        with runtime.database.unit_of_work() as db:
            db.execute(
                update(OutboxMessage)
                .where(
                    OutboxMessage.kind == "connector.refresh",
                    OutboxMessage.platform_id == platform.platform.id,
                    OutboxMessage.status == OutboxStatus.pending,
                )
                .values(run_after=clock.now() - dt.timedelta(seconds=1))
            )
        drain_outbox(runtime)
        if "refresh_failed" in timeline_kinds(runtime, case.session.id):
            break

    assert "data_refreshed" not in timeline_kinds(runtime, case.session.id)
    [detail] = timeline_details(runtime, case.session.id, "refresh_failed")
    assert (detail["account"], detail["reason"]) == (case.account.id, "institution_down")
    # The bank never answered: the account itself was not broken by the proof.
    account = wire(client.v1.financial_connections.accounts.retrieve(case.account.id))
    assert account.status == "active"
    listed, page = _flags(server, platform.owner.email, case.account.id)
    assert "Repair not confirmed: the first refresh failed" in listed
    assert "(the bank stayed unavailable)" in page
