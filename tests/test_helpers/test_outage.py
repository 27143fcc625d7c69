"""POST /v1/test_helpers/financial_connections/institutions/{id}/outage: a sandbox bank's
outage, played at the sandbox bank itself, and what Relink's outreach makes of it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import stripe

from tests.factories import create_customer, create_test_account, deactivate, raw
from tests.schema import assert_valid

INSTITUTION = "fcinst_bank_non_oauth"
OUTAGE = f"/v1/test_helpers/financial_connections/institutions/{INSTITUTION}/outage"


def _outage(client: stripe.StripeClient, status: str) -> dict[str, Any]:
    return raw(client, "post", OUTAGE, status=status).to_dict()


@pytest.fixture
def bank_back_up(client: stripe.StripeClient) -> Iterator[None]:
    """Institutions are shared: whatever a test plays, the bank is back up afterwards."""
    yield
    _outage(client, "active")


def _eligibility(client: stripe.StripeClient, account_id: str) -> dict[str, Any]:
    path = f"/v1/financial_connections/accounts/{account_id}/relink_eligibility"
    return raw(client, "get", path).to_dict()


def _broken_account(
    client: stripe.StripeClient, email: str
) -> stripe.financial_connections.Account:
    customer = create_customer(client, email=email)
    account = create_test_account(client, customer=customer.id, institution=INSTITUTION)
    deactivate(client, account.id, "access_expired")
    return account


@pytest.mark.usefixtures("bank_back_up")
@pytest.mark.parametrize(("played", "health"), [("down", "inactive"), ("degraded", "degraded")])
def test_an_outage_sets_the_institution_s_status_at_once(
    client: stripe.StripeClient, played: str, health: str
) -> None:
    institution = _outage(client, played)
    assert_valid(institution, "financial_connections.institution")
    assert (institution["id"], institution["status"]) == (INSTITUTION, health)
    retrieved = raw(client, "get", f"/v1/financial_connections/institutions/{INSTITUTION}")
    assert retrieved["status"] == health
    assert _outage(client, "active")["status"] == "active"


@pytest.mark.usefixtures("bank_back_up")
def test_accounts_at_a_bank_in_trouble_are_not_emailed_until_it_is_back(
    client: stripe.StripeClient, platform: Any
) -> None:
    account = _broken_account(client, platform.owner.email)
    assert _eligibility(client, account.id)["eligible"] is True

    _outage(client, "degraded")
    answer = _eligibility(client, account.id)
    assert answer["eligible"] is False
    assert [reason["code"] for reason in answer["reasons"]] == ["institution_unavailable"]
    assert "bank is having trouble" in answer["reasons"][0]["message"]
    relink = {
        "relink_options": {"authorization": account["authorization"], "account": account.id},
        "ui_mode": "hosted",
        "permissions": ["payment_method"],
    }
    with pytest.raises(stripe.InvalidRequestError) as raised:
        raw(
            client,
            "post",
            "/v1/financial_connections/sessions",
            hosted={"delivery_method": "email"},
            **relink,
        )
    assert raised.value.code == "relink_not_eligible"
    reasons = raised.value.json_body["error"]["reasons"]  # type: ignore[index]
    assert [reason["code"] for reason in reasons] == ["institution_unavailable"]
    # A url session is the holder's to open when they choose: still allowed.
    by_url = raw(
        client,
        "post",
        "/v1/financial_connections/sessions",
        hosted={"delivery_method": "url"},
        **relink,
    )
    assert by_url["status"] == "pending"

    _outage(client, "active")
    assert _eligibility(client, account.id)["eligible"] is True


def test_an_unknown_outage_status_is_refused_and_changes_nothing(
    client: stripe.StripeClient,
) -> None:
    with pytest.raises(stripe.InvalidRequestError) as raised:
        raw(client, "post", OUTAGE, status="exploded")
    assert raised.value.param == "status"
    retrieved = raw(client, "get", f"/v1/financial_connections/institutions/{INSTITUTION}")
    assert retrieved["status"] == "active"


def test_an_outage_cannot_be_played_with_a_live_key(live_client: stripe.StripeClient) -> None:
    with pytest.raises(stripe.InvalidRequestError) as raised:
        raw(live_client, "post", OUTAGE, status="down")
    assert "test mode" in str(raised.value)


def test_an_outage_of_an_unknown_institution_is_resource_missing(
    client: stripe.StripeClient,
) -> None:
    path = "/v1/test_helpers/financial_connections/institutions/fcinst_nope/outage"
    with pytest.raises(stripe.InvalidRequestError) as raised:
        raw(client, "post", path, status="down")
    assert raised.value.code == "resource_missing"
