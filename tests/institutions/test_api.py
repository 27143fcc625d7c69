from __future__ import annotations

from typing import Any

import pytest
import stripe

from relink.platforms.service import NewPlatform
from relink.runtime import Runtime
from tests.conftest import RunningServer, make_platform, stripe_client
from tests.factories import raw
from tests.schema import assert_valid

INSTITUTIONS = "/v1/financial_connections/institutions"

# The test institutions of spec 30-banks.md §2, by name.
SANDBOX_INSTITUTIONS = {
    "Test (Non-OAuth)",
    "Test (OAuth)",
    "Bank (Non-OAuth)",
    "Bank (OAuth)",
    "Tokenized Account Numbers",
    "Inactive Accounts",
    "Immediately Requires Reauthentication",
    "Eventually Requires Reauthentication",
    "Down (Scheduled)",
    "Down (Unscheduled)",
    "Down (Error)",
    "Invalid Payment Accounts",
}


@pytest.fixture(scope="module")
def reader(runtime: Runtime) -> NewPlatform:
    """The institutions are global and these tests only read: one platform serves them all."""
    with runtime.database.unit_of_work() as session:
        return make_platform(session)


@pytest.fixture(scope="module")
def client(server: RunningServer, reader: NewPlatform) -> stripe.StripeClient:
    return stripe_client(server, reader.test_secret_key)


@pytest.fixture(scope="module")
def live_client(server: RunningServer, reader: NewPlatform) -> stripe.StripeClient:
    return stripe_client(server, reader.live_secret_key)


def _list_all(client: stripe.StripeClient) -> list[dict[str, Any]]:
    listed = raw(client, "get", INSTITUTIONS, limit=100).to_dict()
    assert listed["has_more"] is False
    assert listed["object"] == "list"
    assert listed["url"] == INSTITUTIONS
    data: list[dict[str, Any]] = listed["data"]
    return data


def test_list_in_test_mode_contains_every_sandbox_institution(
    client: stripe.StripeClient,
) -> None:
    names = {institution["name"] for institution in _list_all(client)}
    assert names >= SANDBOX_INSTITUTIONS


def test_list_in_test_mode_returns_schema_valid_test_mode_institutions(
    client: stripe.StripeClient,
) -> None:
    institutions = _list_all(client)
    assert institutions
    for institution in institutions:
        assert institution["livemode"] is False
        assert_valid(institution, "financial_connections.institution")


def test_list_in_live_mode_contains_no_sandbox_institution(
    live_client: stripe.StripeClient,
) -> None:
    names = {institution["name"] for institution in _list_all(live_client)}
    assert names & SANDBOX_INSTITUTIONS == set()


def test_list_paginates_newest_first_without_overlap(client: stripe.StripeClient) -> None:
    first = raw(client, "get", INSTITUTIONS, limit=5).to_dict()
    second = raw(
        client, "get", INSTITUTIONS, limit=5, starting_after=first["data"][-1]["id"]
    ).to_dict()
    assert first["has_more"] is True
    first_ids = [i["id"] for i in first["data"]]
    second_ids = [i["id"] for i in second["data"]]
    assert not set(first_ids) & set(second_ids)
    assert first_ids + second_ids == [i["id"] for i in _list_all(client)][:10]


def test_retrieve_returns_the_schema_valid_institution(client: stripe.StripeClient) -> None:
    institution = raw(client, "get", f"{INSTITUTIONS}/fcinst_test_oauth").to_dict()
    assert institution["id"] == "fcinst_test_oauth"
    assert institution["name"] == "Test (OAuth)"
    assert institution["object"] == "financial_connections.institution"
    assert institution["status"] == "active"
    assert_valid(institution, "financial_connections.institution")


def test_retrieve_of_a_sandbox_institution_in_live_mode_is_resource_missing(
    live_client: stripe.StripeClient,
) -> None:
    with pytest.raises(stripe.InvalidRequestError) as raised:
        raw(live_client, "get", f"{INSTITUTIONS}/fcinst_test_oauth")
    assert raised.value.http_status == 404
    assert raised.value.code == "resource_missing"
    assert raised.value.user_message == (
        "No such financial_connections.institution: 'fcinst_test_oauth'"
    )
