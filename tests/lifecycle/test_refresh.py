from __future__ import annotations

import itertools

import httpx
import pytest
import stripe
from sqlalchemy import select

from relink.lifecycle.refresh import REFRESH
from relink.models import Institution, OutboxMessage
from relink.platforms.service import NewPlatform
from relink.runtime import Runtime
from relink.sandbox_bank.store import SANDBOX_CLIENT_NAME
from relink.sandbox_bank.testing import BankDriver
from tests.conftest import RunningServer
from tests.factories import create_customer, create_test_account, drain_outbox, raw, unchecked, wire
from tests.receivers import webhook_receiver
from tests.schema import assert_valid


@pytest.mark.usefixtures("private_webhooks")
def test_revoked_at_the_bank_security_center_the_next_refresh_deactivates_with_access_denied(
    client: stripe.StripeClient, runtime: Runtime, platform: NewPlatform, server: RunningServer
) -> None:
    with webhook_receiver() as receiver:
        endpoint = client.v1.webhook_endpoints.create(
            params={
                "url": receiver.url,
                "enabled_events": ["financial_connections.account.deactivated"],
            }
        )
        customer = create_customer(client, email=platform.owner.email)
        account = create_test_account(client, customer=customer.id, institution="fcinst_bank_oauth")
        with httpx.Client(base_url=server.url + "/sandbox-bank/") as http:
            BankDriver(http).revoke_in_security_center(
                "bank_oauth", customer.id.lower(), SANDBOX_CLIENT_NAME
            )
        # Nothing changes in Relink until the next refresh discovers it.
        assert client.v1.financial_connections.accounts.retrieve(account.id).status == "active"

        client.v1.financial_connections.accounts.refresh(
            account.id, params={"features": ["balance"]}
        )
        drain_outbox(runtime)

        refreshed = client.v1.financial_connections.accounts.retrieve(account.id)
        assert refreshed.status == "inactive"
        assert wire(refreshed).status_details.inactive.cause == "access_denied"
        assert wire(refreshed).status_details.inactive.action == "relink_required"
        assert refreshed.balance_refresh is not None
        assert refreshed.balance_refresh.status == "failed"
        [delivery] = receiver.deliveries
        event = stripe.Webhook.construct_event(
            delivery.body, delivery.headers["stripe-signature"], endpoint.secret
        )
        assert event.type == "financial_connections.account.deactivated"
        assert event.data.object.id == account.id


def test_balance_refresh_goes_pending_then_succeeded_with_the_bank_balance(
    client: stripe.StripeClient, runtime: Runtime, platform: NewPlatform
) -> None:
    customer = create_customer(client, email=platform.owner.email)
    account = create_test_account(client, customer=customer.id, institution="fcinst_test_oauth")
    pending = client.v1.financial_connections.accounts.refresh(
        account.id, params={"features": ["balance"]}
    )
    assert pending.balance_refresh is not None
    assert pending.balance_refresh.status == "pending"
    drain_outbox(runtime)
    refreshed = client.v1.financial_connections.accounts.retrieve(account.id)
    assert refreshed.balance_refresh is not None and refreshed.balance is not None
    assert refreshed.balance_refresh.status == "succeeded"
    assert refreshed.balance.type == "cash"
    assert isinstance(refreshed.balance.current["usd"], int)
    types = [
        e.type
        for e in client.v1.events.list(
            params={"type": "financial_connections.account.refreshed_balance"}
        ).data
    ]
    assert types == ["financial_connections.account.refreshed_balance"]


def test_inactive_accounts_institution_turns_inactive_on_the_first_refresh(
    client: stripe.StripeClient, runtime: Runtime, platform: NewPlatform
) -> None:
    customer = create_customer(client, email=platform.owner.email)
    account = create_test_account(
        client, customer=customer.id, institution="fcinst_inactive_accounts"
    )
    client.v1.financial_connections.accounts.refresh(account.id, params={"features": ["balance"]})
    drain_outbox(runtime)
    refreshed = client.v1.financial_connections.accounts.retrieve(account.id)
    assert refreshed.status == "inactive"
    assert wire(refreshed).status_details.inactive.action == "relink_required"


@pytest.mark.parametrize("institution", ["fcinst_down_scheduled", "fcinst_down_unscheduled"])
def test_a_down_bank_never_deactivates_and_the_refresh_is_retried_later(
    client: stripe.StripeClient, runtime: Runtime, platform: NewPlatform, institution: str
) -> None:
    customer = create_customer(client, email=platform.owner.email)
    account = create_test_account(client, customer=customer.id, institution=institution)
    client.v1.financial_connections.accounts.refresh(account.id, params={"features": ["balance"]})
    drain_outbox(runtime)
    refreshed = client.v1.financial_connections.accounts.retrieve(account.id)
    assert refreshed.status == "active"
    assert refreshed.balance_refresh is not None
    assert refreshed.balance_refresh.status == "pending"
    with runtime.database.read_only() as session:
        row = session.scalars(
            select(OutboxMessage).where(
                OutboxMessage.kind == REFRESH,
                OutboxMessage.payload["account_id"].as_string() == account.id,
            )
        ).one()
        assert row.status == "pending" and row.attempts == 1
        # Not healthy: degraded by this call, or inactive already if a health check saw the
        # bank down first (a failing call never raises a bank from inactive to degraded).
        assert session.get(Institution, institution).health != "active"  # type: ignore[union-attr]


def test_subscribing_to_transactions_refreshes_them_and_lists_them(
    client: stripe.StripeClient, runtime: Runtime, platform: NewPlatform
) -> None:
    customer = create_customer(client, email=platform.owner.email)
    account = create_test_account(client, customer=customer.id, institution="fcinst_test_non_oauth")
    subscribed = client.v1.financial_connections.accounts.subscribe(
        account.id, params={"features": ["transactions"]}
    )
    assert subscribed.subscriptions == ["transactions"]
    drain_outbox(runtime)
    listed = client.v1.financial_connections.transactions.list(
        params={"account": account.id, "limit": 100}
    )
    assert listed.data, "the sandbox bank has transactions for every cash account"
    assert all(t.account == account.id for t in listed.data)
    refreshed = client.v1.financial_connections.accounts.retrieve(account.id)
    assert refreshed.transaction_refresh is not None
    assert refreshed.transaction_refresh.status == "succeeded"
    assert listed.data[0].transaction_refresh == refreshed.transaction_refresh.id


def test_ownership_refresh_makes_owners_listable(
    client: stripe.StripeClient, runtime: Runtime, platform: NewPlatform
) -> None:
    customer = create_customer(client, email=platform.owner.email)
    account = create_test_account(client, customer=customer.id, institution="fcinst_test_non_oauth")
    client.v1.financial_connections.accounts.refresh(account.id, params={"features": ["ownership"]})
    drain_outbox(runtime)
    refreshed = client.v1.financial_connections.accounts.retrieve(account.id)
    owners = raw(
        client,
        "get",
        f"/v1/financial_connections/accounts/{account.id}/owners",
        ownership=refreshed.ownership,
    )
    assert len(owners.data) >= 1
    assert owners.data[0].ownership == refreshed.ownership


def test_refreshing_an_inactive_account_is_refused(
    client: stripe.StripeClient, platform: NewPlatform
) -> None:
    customer = create_customer(client, email=platform.owner.email)
    account = create_test_account(client, customer=customer.id)
    raw(
        client,
        "post",
        f"/v1/test_helpers/financial_connections/accounts/{account.id}/deactivate",
        cause="access_expired",
    )
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.financial_connections.accounts.refresh(
            account.id, params={"features": ["balance"]}
        )
    assert raised.value.code == "financial_connections_account_inactive"


def test_a_tan_the_bank_deactivated_is_recorded_on_the_next_refresh(
    client: stripe.StripeClient, runtime: Runtime, platform: NewPlatform
) -> None:
    from relink.connectors.sandbox.connector import SandboxConnector
    from relink.institutions.connectors import connector_for
    from relink.lifecycle.grants import open_grant
    from relink.models import Account, Authorization
    from relink.tenancy import Scope

    customer = create_customer(client, email=platform.owner.email)
    account = create_test_account(
        client, customer=customer.id, institution="fcinst_tokenized_account_numbers"
    )
    with runtime.database.read_only() as session:
        row = session.get(Account, account.id)
        assert row is not None
        authorization = session.get(Authorization, row.authorization_id)
        institution = session.get(Institution, row.institution_id)
        assert authorization is not None and institution is not None
        connector = connector_for(runtime, institution, Scope(platform.platform.id, False))
        assert isinstance(connector, SandboxConnector)
        connector.update_test_account_numbers(
            open_grant(runtime, authorization), row.bank_account_id, status="deactivated"
        )
    client.v1.financial_connections.accounts.refresh(account.id, params={"features": ["balance"]})
    drain_outbox(runtime)
    refreshed = client.v1.financial_connections.accounts.retrieve(account.id)
    assert refreshed.account_numbers is not None
    assert refreshed.account_numbers[-1].status == "deactivated"
    updates = client.v1.events.list(
        params={"type": "financial_connections.account.account_numbers_updated"}
    ).data
    assert [e.data.object.id for e in updates] == [account.id]


def test_inferred_balances_refresh_lists_end_of_day_balances_that_the_transactions_explain(
    client: stripe.StripeClient, runtime: Runtime, platform: NewPlatform
) -> None:
    customer = create_customer(client, email=platform.owner.email)
    account = create_test_account(client, customer=customer.id, institution="fcinst_test_non_oauth")
    pending = client.v1.financial_connections.accounts.refresh(
        account.id, params={"features": ["balance", "transactions", "inferred_balances"]}
    )
    assert pending["inferred_balances_refresh"]["status"] == "pending"
    drain_outbox(runtime)
    refreshed = client.v1.financial_connections.accounts.retrieve(account.id)
    assert refreshed["inferred_balances_refresh"]["status"] == "succeeded"
    assert_valid(refreshed.to_dict(), "financial_connections.account")
    listed = raw(
        client,
        "get",
        f"/v1/financial_connections/accounts/{account.id}/inferred_balances",
        limit=100,
    )
    balances = [b.to_dict() for b in listed.data]
    assert len(balances) > 1
    for balance in balances:
        assert_valid(balance, "financial_connections.account_inferred_balance")
    # Newest first; the newest is the bank's balance now, every earlier one a day's end.
    assert [b["as_of"] for b in balances] == sorted((b["as_of"] for b in balances), reverse=True)
    assert refreshed.balance is not None
    assert balances[0]["current"] == refreshed.balance.current.to_dict()
    assert all(b["as_of"] % 86400 == 86399 for b in balances[1:])
    transactions = client.v1.financial_connections.transactions.list(
        params={"account": account.id, "limit": 100}
    ).data
    posted = [
        (t.status_transitions.posted_at, t.amount) for t in transactions if t.status == "posted"
    ]
    for newer, older in itertools.pairwise(balances):
        moved = sum(amount for at, amount in posted if older["as_of"] < at <= newer["as_of"])
        assert newer["current"]["usd"] - older["current"]["usd"] == moved
    [event] = client.v1.events.list(
        params={"type": "financial_connections.account.refreshed_inferred_balances"}
    ).data
    assert event.data.object.id == account.id


def test_inferred_balances_can_be_subscribed_to_and_unsubscribed_from(
    client: stripe.StripeClient, platform: NewPlatform
) -> None:
    customer = create_customer(client, email=platform.owner.email)
    account = create_test_account(client, customer=customer.id, institution="fcinst_test_non_oauth")
    subscribed = client.v1.financial_connections.accounts.subscribe(
        account.id, params=unchecked({"features": ["inferred_balances"]})
    )
    assert subscribed.subscriptions == ["inferred_balances"]
    assert subscribed["inferred_balances_refresh"]["status"] == "pending"
    unsubscribed = client.v1.financial_connections.accounts.unsubscribe(
        account.id, params=unchecked({"features": ["inferred_balances"]})
    )
    assert unsubscribed.subscriptions == []
