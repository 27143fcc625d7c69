from __future__ import annotations

import pytest
import stripe

from relink.outbox.dispatcher import OutboxDispatcher
from relink.runtime import Runtime
from relink.worker import HANDLERS
from tests.factories import (
    create_customer,
    create_test_account,
    deactivate,
    events_of_type,
    raw,
    unchecked,
)
from tests.schema import assert_event_valid, assert_valid


def _connected_account(client: stripe.StripeClient) -> stripe.Account:
    return client.v1.accounts.create(params={"email": "merchant@example.com"})


def test_test_helper_creates_an_active_schema_valid_account_for_a_customer(
    client: stripe.StripeClient,
) -> None:
    customer = create_customer(client, email="holder@example.com")
    account = create_test_account(client, customer=customer.id)
    assert account.id.startswith("fca_")
    assert account.status == "active"
    assert account.account_holder is not None
    assert account.account_holder.to_dict() == {"type": "customer", "customer": customer.id}
    assert account["institution"] == "fcinst_bank_non_oauth"
    assert account.institution_name == "Bank (Non-OAuth)"
    assert account["authorization"].startswith("fcauth_")
    assert_valid(account.to_dict(), "financial_connections.account")


def test_test_helper_creates_an_account_for_a_connected_account(
    client: stripe.StripeClient,
) -> None:
    holder = _connected_account(client)
    account = create_test_account(client, connected_account=holder.id)
    assert account.account_holder is not None
    assert account.account_holder.to_dict() == {"type": "account", "account": holder.id}
    assert_valid(account.to_dict(), "financial_connections.account")


def test_list_filters_by_account_holder_customer(client: stripe.StripeClient) -> None:
    mine = create_customer(client)
    other = create_customer(client)
    first = create_test_account(client, customer=mine.id)
    second = create_test_account(client, customer=mine.id, institution="fcinst_test_oauth")
    create_test_account(client, customer=other.id)
    listed = client.v1.financial_connections.accounts.list(
        params={"account_holder": {"customer": mine.id}}
    )
    assert [a.id for a in listed.data] == [second.id, first.id]
    for account in listed.data:
        assert_valid(account.to_dict(), "financial_connections.account")


def test_list_filters_by_account_holder_account(client: stripe.StripeClient) -> None:
    holder = _connected_account(client)
    wanted = create_test_account(client, connected_account=holder.id)
    create_test_account(client, customer=create_customer(client).id)
    listed = client.v1.financial_connections.accounts.list(
        params={"account_holder": {"account": holder.id}}
    )
    assert [a.id for a in listed.data] == [wanted.id]


def test_retrieve_returns_the_schema_valid_account(client: stripe.StripeClient) -> None:
    created = create_test_account(client, customer=create_customer(client).id, last4="6789")
    account = client.v1.financial_connections.accounts.retrieve(created.id)
    assert account.id == created.id
    assert account.last4 == "6789"
    assert_valid(account.to_dict(), "financial_connections.account")


def test_retrieve_unknown_account_is_resource_missing(client: stripe.StripeClient) -> None:
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.financial_connections.accounts.retrieve("fca_doesnotexist")
    assert raised.value.http_status == 404
    assert raised.value.code == "resource_missing"
    assert raised.value.user_message == (
        "No such financial_connections.account: 'fca_doesnotexist'"
    )


def test_authorization_of_an_account_is_retrievable_and_schema_valid(
    client: stripe.StripeClient,
) -> None:
    customer = create_customer(client)
    account = create_test_account(client, customer=customer.id)
    authorization = raw(
        client, "get", f"/v1/financial_connections/authorizations/{account['authorization']}"
    ).to_dict()
    assert authorization["id"] == account["authorization"]
    assert authorization["status"] == "active"
    assert authorization["institution"] == "fcinst_bank_non_oauth"
    assert authorization["account_holder"] == {"type": "customer", "customer": customer.id}
    assert_valid(authorization, "financial_connections.authorization")


def test_account_created_event_carries_a_schema_valid_account(
    client: stripe.StripeClient,
) -> None:
    account = create_test_account(client, customer=create_customer(client).id)
    events = events_of_type(client, "financial_connections.account.created")
    assert [e["data"]["object"]["id"] for e in events] == [account.id]
    assert_event_valid(events[0])


def test_retrieve_expands_institution(client: stripe.StripeClient) -> None:
    created = create_test_account(client, customer=create_customer(client).id)
    account = client.v1.financial_connections.accounts.retrieve(
        created.id, params={"expand": ["institution"]}
    )
    institution = account.to_dict()["institution"]
    assert institution["id"] == "fcinst_bank_non_oauth"
    assert institution["object"] == "financial_connections.institution"
    assert_valid(institution, "financial_connections.institution")
    assert_valid(account.to_dict(), "financial_connections.account")


def test_retrieve_expands_authorization(client: stripe.StripeClient) -> None:
    created = create_test_account(client, customer=create_customer(client).id)
    account = client.v1.financial_connections.accounts.retrieve(
        created.id, params={"expand": ["authorization"]}
    )
    authorization = account.to_dict()["authorization"]
    assert authorization["id"] == created["authorization"]
    assert_valid(authorization, "financial_connections.authorization")


def test_retrieve_expands_through_an_expanded_object(client: stripe.StripeClient) -> None:
    customer = create_customer(client)
    created = create_test_account(client, customer=customer.id)
    account = client.v1.financial_connections.accounts.retrieve(
        created.id,
        params={"expand": ["authorization.institution", "authorization.account_holder.customer"]},
    )
    authorization = account.to_dict()["authorization"]
    assert authorization["institution"]["id"] == "fcinst_bank_non_oauth"
    assert authorization["account_holder"]["customer"]["id"] == customer.id
    assert_valid(authorization, "financial_connections.authorization")


def test_retrieve_expands_account_holder_customer(client: stripe.StripeClient) -> None:
    customer = create_customer(client, email="expand@example.com")
    created = create_test_account(client, customer=customer.id)
    account = client.v1.financial_connections.accounts.retrieve(
        created.id, params={"expand": ["account_holder.customer"]}
    )
    expanded = account.to_dict()["account_holder"]["customer"]
    assert expanded["id"] == customer.id
    assert expanded["object"] == "customer"
    assert expanded["email"] == "expand@example.com"
    assert_valid(account.to_dict(), "financial_connections.account")


def test_retrieve_expands_account_holder_account(client: stripe.StripeClient) -> None:
    holder = _connected_account(client)
    created = create_test_account(client, connected_account=holder.id)
    account = client.v1.financial_connections.accounts.retrieve(
        created.id, params={"expand": ["account_holder.account"]}
    )
    expanded = account.to_dict()["account_holder"]["account"]
    assert expanded["id"] == holder.id
    assert expanded["object"] == "account"


def test_list_expands_data_institution(client: stripe.StripeClient) -> None:
    customer = create_customer(client)
    create_test_account(client, customer=customer.id)
    create_test_account(client, customer=customer.id, institution="fcinst_test_oauth")
    listed = client.v1.financial_connections.accounts.list(
        params={"account_holder": {"customer": customer.id}, "expand": ["data.institution"]}
    )
    institutions = [a.to_dict()["institution"] for a in listed.data]
    assert [i["id"] for i in institutions] == ["fcinst_test_oauth", "fcinst_bank_non_oauth"]
    for institution in institutions:
        assert_valid(institution, "financial_connections.institution")


def test_expand_deeper_than_four_levels_is_refused(client: stripe.StripeClient) -> None:
    customer = create_customer(client)
    create_test_account(client, customer=customer.id)
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.financial_connections.accounts.list(
            params={"expand": ["data.authorization.institution.features.balances"]}
        )
    assert raised.value.http_status == 400
    assert raised.value.param == "expand"


def test_expand_of_an_unexpandable_field_is_refused(client: stripe.StripeClient) -> None:
    created = create_test_account(client, customer=create_customer(client).id)
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.financial_connections.accounts.retrieve(
            created.id, params={"expand": ["display_name"]}
        )
    assert raised.value.http_status == 400
    assert raised.value.param == "expand"


def test_disconnect_makes_the_account_disconnected(client: stripe.StripeClient) -> None:
    created = create_test_account(client, customer=create_customer(client).id)
    disconnected = client.v1.financial_connections.accounts.disconnect(created.id)
    assert disconnected.status == "disconnected"
    assert client.v1.financial_connections.accounts.retrieve(created.id).status == "disconnected"
    assert_valid(disconnected.to_dict(), "financial_connections.account")


def test_disconnect_emits_account_disconnected(client: stripe.StripeClient) -> None:
    created = create_test_account(client, customer=create_customer(client).id)
    client.v1.financial_connections.accounts.disconnect(created.id)
    events = events_of_type(client, "financial_connections.account.disconnected")
    assert len(events) == 1
    assert events[0]["data"]["object"]["id"] == created.id
    assert events[0]["data"]["object"]["status"] == "disconnected"
    assert events[0]["data"]["previous_attributes"]["status"] == "active"
    assert_event_valid(events[0])


def test_refresh_of_an_inactive_account_is_refused_as_inactive(
    client: stripe.StripeClient,
) -> None:
    created = create_test_account(client, customer=create_customer(client).id)
    deactivate(client, created.id, "access_expired")
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.financial_connections.accounts.refresh(
            created.id, params={"features": ["balance"]}
        )
    assert raised.value.http_status == 400
    assert raised.value.code == "financial_connections_account_inactive"


def test_relink_eligibility_has_the_documented_shape(client: stripe.StripeClient) -> None:
    created = create_test_account(client, customer=create_customer(client).id)
    eligibility = raw(
        client, "get", f"/v1/financial_connections/accounts/{created.id}/relink_eligibility"
    ).to_dict()
    assert set(eligibility) == {"object", "account", "eligible", "reasons", "next_eligible_at"}
    assert eligibility["object"] == "financial_connections.relink_eligibility"
    assert eligibility["account"] == created.id
    # A healthy account is not broken, so it is not eligible, and says why.
    assert eligibility["eligible"] is False
    assert eligibility["reasons"]
    for reason in eligibility["reasons"]:
        assert set(reason) == {"code", "message"}
        assert isinstance(reason["code"], str) and isinstance(reason["message"], str)
    assert eligibility["next_eligible_at"] is None


def test_retrieve_expands_ownership_into_the_ownership_and_its_owners(
    client: stripe.StripeClient, runtime: Runtime
) -> None:
    account = create_test_account(
        client, customer=create_customer(client).id, institution="fcinst_test_non_oauth"
    )
    client.v1.financial_connections.accounts.refresh(account.id, params={"features": ["ownership"]})
    OutboxDispatcher(runtime, HANDLERS).drain()
    expanded = client.v1.financial_connections.accounts.retrieve(
        account.id, params={"expand": ["ownership"]}
    )
    ownership = expanded.ownership
    assert isinstance(ownership, stripe.financial_connections.AccountOwnership)
    assert ownership.object == "financial_connections.account_ownership"
    assert ownership.owners.data and {o.ownership for o in ownership.owners.data} == {ownership.id}
    assert_valid(expanded.to_dict(), "financial_connections.account")
    assert_valid(ownership.to_dict(), "financial_connections.account_ownership")


@pytest.mark.parametrize("cursor", ["fca_01JZZZZZZZZZZZZZZZZZZZZZZZ", "customer"])
@pytest.mark.parametrize("param", ["starting_after", "ending_before"])
def test_a_cursor_that_names_no_account_of_the_list_is_a_400(
    client: stripe.StripeClient, cursor: str, param: str
) -> None:
    customer = create_customer(client)
    create_test_account(client, customer=customer.id)
    value = customer.id if cursor == "customer" else cursor
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.financial_connections.accounts.list(params=unchecked({param: value}))
    assert (raised.value.http_status, raised.value.code) == (400, "resource_missing")
    assert raised.value.param == param


def test_list_by_account_holder_customer_account_is_refused_saying_what_to_use(
    client: stripe.StripeClient,
) -> None:
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.financial_connections.accounts.list(
            params={"account_holder": {"customer_account": "acct_123"}}
        )
    assert raised.value.param == "account_holder[customer_account]"
    assert "account_holder[customer]" in str(raised.value.user_message)
