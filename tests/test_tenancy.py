"""A key of platform A can neither read, change, list, expand nor reference platform B's
objects, and test and live never mix: each attempt answers exactly like a missing object."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
import stripe
from sqlalchemy import select, update

from relink.kit import clock, ids
from relink.models import Account, Customer
from relink.platforms.service import NewPlatform
from relink.runtime import Runtime
from relink.tenancy import Scope, in_scope, platform_scope
from tests.conftest import RunningServer, make_platform, stripe_client
from tests.factories import create_customer, create_test_account, deactivate, error_of, raw

HELPERS = "/v1/test_helpers/financial_connections"


@dataclass
class OtherPlatform:
    """Platform B's objects, made with B's test key (shared by the module: tests that
    change B's objects make their own)."""

    client: stripe.StripeClient
    customer: str
    connected_account: str
    account: str
    authorization: str
    event: str
    webhook_endpoint: str


@pytest.fixture(scope="module")
def other(runtime: Runtime, server: RunningServer) -> OtherPlatform:
    with runtime.database.unit_of_work() as session:
        platform = make_platform(session, name="Other Lending")
    client = stripe_client(server, platform.test_secret_key)
    customer = create_customer(client, email="b-holder@example.com")
    connected = client.v1.accounts.create(params={"email": "b-merchant@example.com"})
    account = create_test_account(client, customer=customer.id)
    endpoint = client.v1.webhook_endpoints.create(
        params={"url": "https://93.184.216.34/b", "enabled_events": ["*"]}
    )
    event = client.v1.events.list().data[0]
    return OtherPlatform(
        client=client,
        customer=customer.id,
        connected_account=connected.id,
        account=account.id,
        authorization=account["authorization"],
        event=event.id,
        webhook_endpoint=endpoint.id,
    )


def _error_of(attempt: Callable[[], object]) -> stripe.InvalidRequestError:
    with pytest.raises(stripe.InvalidRequestError) as raised:
        attempt()
    return raised.value


def assert_answers_like_missing(
    attempt: Callable[[str], object], foreign_id: str, object_name: str
) -> None:
    """``attempt(foreign_id)`` fails exactly as ``attempt`` of an id that never existed."""
    missing_id = ids.new(foreign_id.split("_", 1)[0])
    foreign = _error_of(lambda: attempt(foreign_id))
    missing = _error_of(lambda: attempt(missing_id))
    assert foreign.http_status == missing.http_status == 404
    assert foreign.code == missing.code == "resource_missing"
    assert foreign.user_message == f"No such {object_name}: '{foreign_id}'"
    foreign_body = error_of(foreign)
    missing_body = error_of(missing)
    foreign_body["message"] = foreign_body["message"].replace(foreign_id, "<id>")
    missing_body["message"] = missing_body["message"].replace(missing_id, "<id>")
    assert foreign_body == missing_body


# -- read ---------------------------------------------------------------------------------


def test_a_customer_of_another_platform_cannot_be_retrieved(
    client: stripe.StripeClient, other: OtherPlatform
) -> None:
    assert_answers_like_missing(client.v1.customers.retrieve, other.customer, "customer")


def test_a_connected_account_of_another_platform_cannot_be_retrieved(
    client: stripe.StripeClient, other: OtherPlatform
) -> None:
    assert_answers_like_missing(client.v1.accounts.retrieve, other.connected_account, "account")


def test_an_fc_account_of_another_platform_cannot_be_retrieved(
    client: stripe.StripeClient, other: OtherPlatform
) -> None:
    assert_answers_like_missing(
        client.v1.financial_connections.accounts.retrieve,
        other.account,
        "financial_connections.account",
    )


def test_an_authorization_of_another_platform_cannot_be_retrieved(
    client: stripe.StripeClient, other: OtherPlatform
) -> None:
    assert_answers_like_missing(
        lambda i: raw(client, "get", f"/v1/financial_connections/authorizations/{i}"),
        other.authorization,
        "financial_connections.authorization",
    )


def test_an_event_of_another_platform_cannot_be_retrieved(
    client: stripe.StripeClient, other: OtherPlatform
) -> None:
    assert_answers_like_missing(client.v1.events.retrieve, other.event, "event")


def test_a_webhook_endpoint_of_another_platform_cannot_be_retrieved(
    client: stripe.StripeClient, other: OtherPlatform
) -> None:
    assert_answers_like_missing(
        client.v1.webhook_endpoints.retrieve, other.webhook_endpoint, "webhook_endpoint"
    )


def test_relink_eligibility_of_another_platforms_account_is_missing(
    client: stripe.StripeClient, other: OtherPlatform
) -> None:
    assert_answers_like_missing(
        lambda i: raw(client, "get", f"/v1/financial_connections/accounts/{i}/relink_eligibility"),
        other.account,
        "financial_connections.account",
    )


# -- list ---------------------------------------------------------------------------------


def test_lists_never_contain_another_platforms_objects(
    client: stripe.StripeClient, other: OtherPlatform
) -> None:
    assert client.v1.customers.list().data == []
    assert client.v1.accounts.list().data == []
    assert client.v1.financial_connections.accounts.list().data == []
    assert client.v1.events.list().data == []
    assert client.v1.webhook_endpoints.list().data == []


def test_filtering_accounts_by_another_platforms_holder_finds_nothing(
    client: stripe.StripeClient, other: OtherPlatform
) -> None:
    by_customer = client.v1.financial_connections.accounts.list(
        params={"account_holder": {"customer": other.customer}}
    )
    assert by_customer.data == []
    # B sees its own account through the same filter, so the filter itself works.
    mine = other.client.v1.financial_connections.accounts.list(
        params={"account_holder": {"customer": other.customer}}
    )
    assert other.account in [a.id for a in mine.data]


# -- change -------------------------------------------------------------------------------


def test_a_customer_of_another_platform_cannot_be_updated_or_deleted(
    client: stripe.StripeClient, other: OtherPlatform
) -> None:
    assert_answers_like_missing(
        lambda i: client.v1.customers.update(i, params={"name": "Mallory"}),
        other.customer,
        "customer",
    )
    assert_answers_like_missing(client.v1.customers.delete, other.customer, "customer")
    assert other.client.v1.customers.retrieve(other.customer).name is None


def test_a_connected_account_of_another_platform_cannot_be_updated(
    client: stripe.StripeClient, other: OtherPlatform
) -> None:
    assert_answers_like_missing(
        lambda i: client.v1.accounts.update(i, params={"email": "mallory@example.com"}),
        other.connected_account,
        "account",
    )
    retrieved = other.client.v1.accounts.retrieve(other.connected_account)
    assert retrieved.email == "b-merchant@example.com"


def test_a_webhook_endpoint_of_another_platform_cannot_be_updated_or_deleted(
    client: stripe.StripeClient, other: OtherPlatform
) -> None:
    assert_answers_like_missing(
        lambda i: client.v1.webhook_endpoints.update(i, params={"disabled": True}),
        other.webhook_endpoint,
        "webhook_endpoint",
    )
    assert_answers_like_missing(
        client.v1.webhook_endpoints.delete, other.webhook_endpoint, "webhook_endpoint"
    )
    assert other.client.v1.webhook_endpoints.retrieve(other.webhook_endpoint).status == "enabled"


def test_an_account_of_another_platform_cannot_be_disconnected(
    client: stripe.StripeClient, other: OtherPlatform
) -> None:
    assert_answers_like_missing(
        client.v1.financial_connections.accounts.disconnect,
        other.account,
        "financial_connections.account",
    )
    assert other.client.v1.financial_connections.accounts.retrieve(other.account).status == (
        "active"
    )


def test_an_account_of_another_platform_cannot_be_refreshed(
    client: stripe.StripeClient, other: OtherPlatform
) -> None:
    inactive = create_test_account(other.client, customer=other.customer)
    deactivate(other.client, inactive.id, "access_expired")
    # An inactive account of one's own answers 400 inactive; B's must answer 404 instead.
    assert_answers_like_missing(
        lambda i: client.v1.financial_connections.accounts.refresh(
            i, params={"features": ["balance"]}
        ),
        inactive.id,
        "financial_connections.account",
    )


@pytest.mark.parametrize(
    ("helper", "params"),
    [
        ("deactivate", {"cause": "access_denied"}),
        ("update_account_numbers", {"status": "expired"}),
        ("update_expected_deactivation", {"expected_deactivation_date": 4_000_000_000}),
    ],
)
def test_test_helpers_cannot_change_another_platforms_account(
    client: stripe.StripeClient, other: OtherPlatform, helper: str, params: dict[str, Any]
) -> None:
    before = other.client.v1.financial_connections.accounts.retrieve(other.account).to_dict()
    assert_answers_like_missing(
        lambda i: raw(client, "post", f"{HELPERS}/accounts/{i}/{helper}", **params),
        other.account,
        "financial_connections.account",
    )
    after = other.client.v1.financial_connections.accounts.retrieve(other.account).to_dict()
    assert after == before
    assert after["status"] == "active"


# -- expand -------------------------------------------------------------------------------


def test_expand_on_another_platforms_account_answers_like_missing(
    client: stripe.StripeClient, other: OtherPlatform
) -> None:
    assert_answers_like_missing(
        lambda i: client.v1.financial_connections.accounts.retrieve(
            i, params={"expand": ["account_holder.customer", "authorization"]}
        ),
        other.account,
        "financial_connections.account",
    )


def test_expand_never_renders_another_platforms_object(
    client: stripe.StripeClient, other: OtherPlatform, runtime: Runtime
) -> None:
    # Forge what the API cannot make: A's account pointing at B's customer.
    account = create_test_account(client, customer=create_customer(client).id)
    with runtime.database.unit_of_work() as session:
        session.execute(
            update(Account).where(Account.id == account.id).values(customer_id=other.customer)
        )
    expanded = client.v1.financial_connections.accounts.retrieve(
        account.id, params={"expand": ["account_holder.customer"]}
    )
    assert expanded.to_dict()["account_holder"]["customer"] == other.customer


# -- use as a parameter -------------------------------------------------------------------


def test_another_platforms_customer_cannot_hold_a_test_account(
    client: stripe.StripeClient, other: OtherPlatform
) -> None:
    error = _error_of(lambda: create_test_account(client, customer=other.customer))
    assert error.http_status == 404
    assert error.code == "resource_missing"
    assert error.param == "account_holder[customer]"
    assert error.user_message == f"No such customer: '{other.customer}'"


def test_another_platforms_connected_account_cannot_hold_a_test_account(
    client: stripe.StripeClient, other: OtherPlatform
) -> None:
    error = _error_of(
        lambda: create_test_account(client, connected_account=other.connected_account)
    )
    assert error.http_status == 404
    assert error.param == "account_holder[account]"
    assert error.user_message == f"No such account: '{other.connected_account}'"


def test_another_platforms_authorization_cannot_be_joined(
    client: stripe.StripeClient, other: OtherPlatform
) -> None:
    customer = create_customer(client)
    assert_answers_like_missing(
        lambda i: create_test_account(client, customer=customer.id, authorization=i),
        other.authorization,
        "financial_connections.authorization",
    )
    assert client.v1.financial_connections.accounts.list().data == []


# -- test and live ------------------------------------------------------------------------


def test_the_test_key_cannot_see_live_objects(
    client: stripe.StripeClient, live_client: stripe.StripeClient
) -> None:
    live = create_customer(live_client, email="live@example.com")
    assert live.livemode is True
    assert_answers_like_missing(client.v1.customers.retrieve, live.id, "customer")
    assert client.v1.customers.list().data == []


def test_the_live_key_cannot_see_test_objects(
    client: stripe.StripeClient, live_client: stripe.StripeClient
) -> None:
    customer = create_customer(client, email="test@example.com")
    account = create_test_account(client, customer=customer.id)
    assert_answers_like_missing(live_client.v1.customers.retrieve, customer.id, "customer")
    assert_answers_like_missing(
        live_client.v1.financial_connections.accounts.retrieve,
        account.id,
        "financial_connections.account",
    )
    assert live_client.v1.customers.list().data == []
    assert live_client.v1.financial_connections.accounts.list().data == []
    assert live_client.v1.events.list().data == []


def test_in_scope_selects_only_the_rows_of_one_platform_and_mode(
    runtime: Runtime, platform: NewPlatform, other: OtherPlatform
) -> None:
    with runtime.database.unit_of_work() as session:
        for livemode in (False, True):
            session.add(
                Customer(
                    id=ids.new("cus"),
                    platform_id=platform.platform.id,
                    livemode=livemode,
                    email=f"scoped-{livemode}@example.com",
                    created_at=clock.now(),
                )
            )
    scope = Scope(platform.platform.id, livemode=True)
    with runtime.database.read_only() as session:
        found = session.scalars(select(Customer).where(in_scope(Customer, scope))).all()
    assert found
    assert {(c.platform_id, c.livemode) for c in found} == {(platform.platform.id, True)}
    assert other.customer not in {c.id for c in found}


def test_a_platform_scope_runs_on_the_test_clock_in_test_mode_only() -> None:
    assert platform_scope("plat_1", False, 3600).clock_offset_seconds == 3600
    assert platform_scope("plat_1", False, None).clock_offset_seconds == 0
    assert platform_scope("plat_1", True, 3600).clock_offset_seconds == 0
