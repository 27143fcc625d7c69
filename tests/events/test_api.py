from __future__ import annotations

import pytest
import stripe

from relink.kit.clock import FrozenClock
from tests.factories import create_customer, create_test_account, deactivate, unchecked
from tests.schema import assert_event_valid

CREATED = "financial_connections.account.created"
DEACTIVATED = "financial_connections.account.deactivated"
DISCONNECTED = "financial_connections.account.disconnected"


def _account(client: stripe.StripeClient) -> stripe.financial_connections.Account:
    return create_test_account(client, customer=create_customer(client).id)


def _types(events: stripe.ListObject[stripe.Event]) -> list[str]:
    return [event.type for event in events.data]


def test_list_returns_schema_valid_events_newest_first(client: stripe.StripeClient) -> None:
    account = _account(client)
    deactivate(client, account.id, "access_denied")
    listed = client.v1.events.list()
    assert _types(listed) == [DEACTIVATED, CREATED]
    assert listed.url == "/v1/events"
    for event in listed.data:
        assert event.data.object.id == account.id
        assert_event_valid(event.to_dict())


def test_list_filters_by_type(client: stripe.StripeClient) -> None:
    account = _account(client)
    deactivate(client, account.id, "access_denied")
    assert _types(client.v1.events.list(params={"type": CREATED})) == [CREATED]


def test_list_filters_by_type_with_a_trailing_wildcard(client: stripe.StripeClient) -> None:
    account = _account(client)
    client.v1.financial_connections.accounts.disconnect(account.id)
    listed = client.v1.events.list(params={"type": "financial_connections.account.*"})
    assert _types(listed) == [DISCONNECTED, CREATED]


def test_list_type_wildcard_matches_like_characters_literally(
    client: stripe.StripeClient,
) -> None:
    _account(client)
    assert _types(client.v1.events.list(params={"type": "%*"})) == []
    assert _types(client.v1.events.list(params={"type": "financial_connections_account*"})) == []


def test_list_filters_by_types(client: stripe.StripeClient) -> None:
    account = _account(client)
    deactivate(client, account.id, "access_denied")
    client.v1.financial_connections.accounts.disconnect(account.id)
    listed = client.v1.events.list(params={"types": [CREATED, DISCONNECTED]})
    assert _types(listed) == [DISCONNECTED, CREATED]


def test_list_filters_by_created_gte(
    client: stripe.StripeClient, frozen_clock: FrozenClock
) -> None:
    account = _account(client)
    later = frozen_clock.advance(seconds=10)
    deactivate(client, account.id, "access_denied")
    listed = client.v1.events.list(params={"created": {"gte": int(later.timestamp())}})
    assert _types(listed) == [DEACTIVATED]


def test_list_filters_by_created_lt(client: stripe.StripeClient, frozen_clock: FrozenClock) -> None:
    account = _account(client)
    later = frozen_clock.advance(seconds=10)
    deactivate(client, account.id, "access_denied")
    listed = client.v1.events.list(params={"created": {"lt": int(later.timestamp())}})
    assert _types(listed) == [CREATED]


def test_retrieve_returns_the_event(client: stripe.StripeClient) -> None:
    account = _account(client)
    listed = client.v1.events.list()
    event = client.v1.events.retrieve(listed.data[0].id)
    assert event.type == CREATED
    assert event.data.object.id == account.id
    assert event.to_dict() == listed.data[0].to_dict()


def test_retrieve_unknown_event_is_resource_missing(client: stripe.StripeClient) -> None:
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.events.retrieve("evt_doesnotexist")
    assert raised.value.http_status == 404
    assert raised.value.code == "resource_missing"
    assert raised.value.user_message == "No such event: 'evt_doesnotexist'"


def test_events_of_the_last_thirty_days_stay_listed(
    client: stripe.StripeClient, frozen_clock: FrozenClock
) -> None:
    _account(client)
    frozen_clock.advance(days=30)
    assert _types(client.v1.events.list()) == [CREATED]


def test_events_older_than_thirty_days_leave_the_list(
    client: stripe.StripeClient, frozen_clock: FrozenClock
) -> None:
    _account(client)
    frozen_clock.advance(days=30, seconds=1)
    assert _types(client.v1.events.list()) == []


def test_events_older_than_thirty_days_cannot_be_retrieved(
    client: stripe.StripeClient, frozen_clock: FrozenClock
) -> None:
    _account(client)
    event_id = client.v1.events.list().data[0].id
    frozen_clock.advance(days=31)
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.events.retrieve(event_id)
    assert raised.value.http_status == 404
    assert raised.value.code == "resource_missing"


@pytest.mark.parametrize("created", [{"gte": 1_796_083_200_000}, {"lt": -5}, 1_796_083_200_000])
def test_a_created_filter_in_milliseconds_or_negative_is_a_400_naming_the_param(
    client: stripe.StripeClient, created: object
) -> None:
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.events.list(params=unchecked({"created": created}))
    assert raised.value.http_status == 400
    [operator] = created if isinstance(created, dict) else [None]
    assert raised.value.param == (f"created[{operator}]" if operator else "created")


def test_type_and_types_together_are_a_400(client: stripe.StripeClient) -> None:
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.events.list(params={"type": CREATED, "types": [DEACTIVATED]})
    assert (raised.value.http_status, raised.value.param) == (400, "types")
