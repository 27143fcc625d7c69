from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import stripe

from relink.kit.clock import FrozenClock
from tests.factories import (
    WireObject,
    create_customer,
    create_test_account,
    deactivate,
    events_of_type,
    raw,
    wire,
)
from tests.schema import assert_event_valid, assert_valid

HELPERS = "/v1/test_helpers/financial_connections"
RELINKABLE_CAUSES = (
    "access_denied",
    "access_expired",
    "account_unavailable",
    "institution_requirement",
    "unspecified",
)


def _account(client: stripe.StripeClient, **params: Any) -> WireObject:
    """An account made by the test helper, read as the helper answers it."""
    return wire(create_test_account(client, customer=create_customer(client).id, **params))


def _authorization(client: stripe.StripeClient, authorization_id: str) -> dict[str, Any]:
    path = f"/v1/financial_connections/authorizations/{authorization_id}"
    return raw(client, "get", path).to_dict()


def _unix(moment: dt.datetime) -> int:
    return int(moment.timestamp())


# -- create -------------------------------------------------------------------------------


def _tans(account: WireObject) -> list[dict[str, Any]]:
    return [
        number.to_dict()
        for number in account.account_numbers
        if number.identifier_type == "tokenized_account_number"
    ]


def test_create_without_account_numbers_gives_no_tan(client: stripe.StripeClient) -> None:
    account = _account(client)
    assert _tans(account) == []


def test_create_with_expected_expiry_date_gives_the_account_a_tan(
    client: stripe.StripeClient,
) -> None:
    expiry = _unix(dt.datetime.now(dt.UTC) + dt.timedelta(days=90))
    account = _account(client, account_numbers={"expected_expiry_date": expiry})
    assert _tans(account) == [
        {
            "expected_expiry_date": expiry,
            "identifier_type": "tokenized_account_number",
            "status": "transactable",
            "supported_networks": ["ach"],
        }
    ]
    assert_valid(account.to_dict(), "financial_connections.account")


def test_create_with_authorization_joins_the_existing_authorization(
    client: stripe.StripeClient,
) -> None:
    customer = create_customer(client)
    first = create_test_account(client, customer=customer.id)
    second = create_test_account(
        client, customer=customer.id, authorization=first["authorization"], subcategory="savings"
    )
    assert second["authorization"] == first["authorization"]
    assert second.id != first.id
    assert second.subcategory == "savings"


def test_create_with_an_authorization_of_another_holder_is_refused(
    client: stripe.StripeClient,
) -> None:
    first = _account(client)
    with pytest.raises(stripe.InvalidRequestError) as raised:
        _account(client, authorization=first["authorization"])
    assert raised.value.http_status == 400
    assert raised.value.param == "authorization"


def test_create_with_an_unknown_institution_is_resource_missing_on_institution(
    client: stripe.StripeClient,
) -> None:
    with pytest.raises(stripe.InvalidRequestError) as raised:
        _account(client, institution="fcinst_nowhere")
    assert raised.value.http_status == 404
    assert raised.value.code == "resource_missing"
    assert raised.value.param == "institution"


def test_create_without_account_holder_is_parameter_missing(client: stripe.StripeClient) -> None:
    with pytest.raises(stripe.InvalidRequestError) as raised:
        raw(client, "post", f"{HELPERS}/accounts", institution="fcinst_bank_non_oauth")
    assert raised.value.http_status == 400
    assert raised.value.code == "parameter_missing"
    assert raised.value.param == "account_holder"


def test_create_for_a_customer_holder_without_customer_is_parameter_missing(
    client: stripe.StripeClient,
) -> None:
    with pytest.raises(stripe.InvalidRequestError) as raised:
        raw(
            client,
            "post",
            f"{HELPERS}/accounts",
            institution="fcinst_bank_non_oauth",
            account_holder={"type": "customer"},
        )
    assert raised.value.code == "parameter_missing"
    assert raised.value.param == "account_holder[customer]"


def test_create_with_an_unknown_customer_is_resource_missing_on_the_holder(
    client: stripe.StripeClient,
) -> None:
    with pytest.raises(stripe.InvalidRequestError) as raised:
        create_test_account(client, customer="cus_doesnotexist")
    assert raised.value.http_status == 404
    assert raised.value.param == "account_holder[customer]"


# -- deactivate ---------------------------------------------------------------------------


@pytest.mark.parametrize("cause", RELINKABLE_CAUSES)
def test_deactivate_makes_account_and_authorization_inactive_with_relink_required(
    client: stripe.StripeClient, cause: str
) -> None:
    account = _account(client)
    deactivated = deactivate(client, account.id, cause)
    assert deactivated.status == "inactive"
    assert deactivated.status_details.to_dict() == {
        "inactive": {"action": "relink_required", "cause": cause}
    }
    assert_valid(deactivated.to_dict(), "financial_connections.account")
    authorization = _authorization(client, account["authorization"])
    assert authorization["status"] == "inactive"
    assert authorization["status_details"] == {"inactive": {"action": "relink_required"}}
    assert_valid(authorization, "financial_connections.authorization")


def test_deactivate_makes_every_account_of_the_authorization_inactive(
    client: stripe.StripeClient,
) -> None:
    customer = create_customer(client)
    first = create_test_account(client, customer=customer.id)
    second = create_test_account(client, customer=customer.id, authorization=first["authorization"])
    deactivate(client, first.id, "access_expired")
    sibling = client.v1.financial_connections.accounts.retrieve(second.id)
    assert sibling.status == "inactive"
    assert wire(sibling).status_details.inactive.cause == "access_expired"


def test_deactivate_account_closed_affects_only_that_account_with_action_none(
    client: stripe.StripeClient,
) -> None:
    customer = create_customer(client)
    first = create_test_account(client, customer=customer.id)
    second = create_test_account(client, customer=customer.id, authorization=first["authorization"])
    closed = deactivate(client, first.id, "account_closed")
    assert closed.status_details.to_dict() == {
        "inactive": {"action": "none", "cause": "account_closed"}
    }
    assert client.v1.financial_connections.accounts.retrieve(second.id).status == "active"
    assert _authorization(client, first["authorization"])["status"] == "active"


def test_deactivate_emits_account_deactivated(client: stripe.StripeClient) -> None:
    account = _account(client)
    deactivate(client, account.id, "access_denied")
    events = events_of_type(client, "financial_connections.account.deactivated")
    assert len(events) == 1
    assert events[0]["data"]["object"]["id"] == account.id
    assert events[0]["data"]["object"]["status"] == "inactive"
    assert events[0]["data"]["previous_attributes"]["status"] == "active"
    assert_event_valid(events[0])


def test_deactivate_with_an_unknown_cause_is_refused(client: stripe.StripeClient) -> None:
    account = _account(client)
    with pytest.raises(stripe.InvalidRequestError) as raised:
        deactivate(client, account.id, "boredom")
    assert raised.value.param == "cause"
    assert client.v1.financial_connections.accounts.retrieve(account.id).status == "active"


# -- update_account_numbers ---------------------------------------------------------------


def _update_numbers(client: stripe.StripeClient, account_id: str, **params: Any) -> WireObject:
    return raw(client, "post", f"{HELPERS}/accounts/{account_id}/update_account_numbers", **params)


def test_update_account_numbers_changes_the_tan_and_emits_account_numbers_updated(
    client: stripe.StripeClient,
) -> None:
    account = _account(client)
    updated = _update_numbers(client, account.id, status="deactivated")
    assert updated.account_numbers[-1].status == "deactivated"
    events = events_of_type(client, "financial_connections.account.account_numbers_updated")
    assert [e["data"]["object"]["id"] for e in events] == [account.id]
    assert events[0]["data"]["object"]["account_numbers"][-1]["status"] == "deactivated"
    assert_event_valid(events[0])


def test_update_account_numbers_thirty_days_away_emits_upcoming_expiry(
    client: stripe.StripeClient, frozen_clock: FrozenClock
) -> None:
    account = _account(client)
    expiry = _unix(frozen_clock.at + dt.timedelta(days=30))
    _update_numbers(client, account.id, expected_expiry_date=expiry)
    events = events_of_type(client, "financial_connections.account.upcoming_account_number_expiry")
    assert [e["data"]["object"]["id"] for e in events] == [account.id]
    assert events[0]["data"]["object"]["account_numbers"][-1]["expected_expiry_date"] == expiry
    assert_event_valid(events[0])


def test_update_account_numbers_more_than_thirty_days_away_emits_no_upcoming_expiry(
    client: stripe.StripeClient, frozen_clock: FrozenClock
) -> None:
    account = _account(client)
    expiry = _unix(frozen_clock.at + dt.timedelta(days=30, seconds=1))
    _update_numbers(client, account.id, expected_expiry_date=expiry)
    assert events_of_type(client, "financial_connections.account.account_numbers_updated")
    assert (
        events_of_type(client, "financial_connections.account.upcoming_account_number_expiry") == []
    )


# -- update_expected_deactivation ---------------------------------------------------------


def _expect_deactivation(client: stripe.StripeClient, account_id: str, when: int) -> WireObject:
    return raw(
        client,
        "post",
        f"{HELPERS}/accounts/{account_id}/update_expected_deactivation",
        expected_deactivation_date=when,
    )


def test_update_expected_deactivation_sets_status_details_active(
    client: stripe.StripeClient,
) -> None:
    account = _account(client)
    when = _unix(dt.datetime.now(dt.UTC) + dt.timedelta(days=10))
    updated = _expect_deactivation(client, account.id, when)
    assert updated.status == "active"
    assert updated.status_details.to_dict() == {
        "active": {
            "action": "relink_required",
            "cause": "access_expired",
            "expected_deactivation_date": when,
        }
    }
    assert_valid(updated.to_dict(), "financial_connections.account")


def test_update_expected_deactivation_emits_the_account_event(
    client: stripe.StripeClient,
) -> None:
    account = _account(client)
    when = _unix(dt.datetime.now(dt.UTC) + dt.timedelta(days=10))
    _expect_deactivation(client, account.id, when)
    events = events_of_type(
        client, "financial_connections.account.expected_deactivation_date_updated"
    )
    assert len(events) == 1
    obj = events[0]["data"]["object"]
    assert obj["id"] == account.id
    assert obj["status_details"]["active"]["expected_deactivation_date"] == when
    assert_event_valid(events[0])


def test_update_expected_deactivation_emits_the_authorization_event(
    client: stripe.StripeClient,
) -> None:
    account = _account(client)
    when = _unix(dt.datetime.now(dt.UTC) + dt.timedelta(days=10))
    _expect_deactivation(client, account.id, when)
    events = events_of_type(
        client, "financial_connections.authorization.expected_deactivation_date_updated"
    )
    assert len(events) == 1
    obj = events[0]["data"]["object"]
    assert obj["id"] == account["authorization"]
    assert obj["status_details"] == {
        "active": {"action": "relink_required", "expected_deactivation_date": when}
    }
    assert_event_valid(events[0])


def test_update_expected_deactivation_shows_on_the_authorization(
    client: stripe.StripeClient,
) -> None:
    account = _account(client)
    when = _unix(dt.datetime.now(dt.UTC) + dt.timedelta(days=10))
    _expect_deactivation(client, account.id, when)
    authorization = _authorization(client, account["authorization"])
    assert authorization["status_details"]["active"]["expected_deactivation_date"] == when
    assert_valid(authorization, "financial_connections.authorization")


# -- sandbox only -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "params"),
    [
        (
            "/accounts",
            {
                "institution": "fcinst_bank_non_oauth",
                "account_holder": {"type": "customer", "customer": "cus_x"},
            },
        ),
        ("/accounts/fca_x/deactivate", {"cause": "access_denied"}),
        ("/accounts/fca_x/update_account_numbers", {"status": "expired"}),
        ("/accounts/fca_x/update_expected_deactivation", {"expected_deactivation_date": 1}),
        ("/authorizations/fcauth_x/revoke", {}),
    ],
)
def test_a_live_key_on_a_test_helper_is_livemode_mismatch(
    live_client: stripe.StripeClient, path: str, params: dict[str, Any]
) -> None:
    with pytest.raises(stripe.InvalidRequestError) as raised:
        raw(live_client, "post", HELPERS + path, **params)
    assert raised.value.http_status == 400
    assert raised.value.code == "livemode_mismatch"
