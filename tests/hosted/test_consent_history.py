"""An authorization's consent history (docs/consent.md): written when the consent is
granted, renewed by a relink and revoked, and shown as ``relink_consent_history``."""

from __future__ import annotations

from typing import Any

import httpx
import stripe

from relink.authorizations.consent import ConsentHistory
from relink.platforms.service import NewPlatform
from relink.runtime import Runtime
from relink.tenancy import Scope
from tests.conftest import make_platform
from tests.factories import create_customer, create_test_account, deactivate, raw, wire
from tests.hosted.connect_factories import link_session
from tests.hosted.factories import bank_account_ids, relink_case
from tests.hosted.pages import HostedPages, text_of
from tests.schema import assert_valid


def _authorization(client: stripe.StripeClient, authorization_id: str) -> dict[str, Any]:
    found: dict[str, Any] = raw(
        client, "get", f"/v1/financial_connections/authorizations/{authorization_id}"
    ).to_dict()
    assert_valid(found, "financial_connections.authorization")
    return found


def _history(client: stripe.StripeClient, authorization_id: str) -> list[tuple[str, str]]:
    history = _authorization(client, authorization_id)["relink_consent_history"]
    return [(entry["kind"], entry["actor"]) for entry in history]


def test_an_account_made_through_the_api_is_granted_by_the_platform(
    client: stripe.StripeClient,
) -> None:
    customer = create_customer(client)
    account = create_test_account(client, customer=customer.id, permissions=["balances"])
    [entry] = _authorization(client, account["authorization"])["relink_consent_history"]
    assert (entry["kind"], entry["actor"], entry["permissions"]) == (
        "granted",
        "platform",
        ["balances"],
    )
    assert isinstance(entry["created"], int)


def test_a_hosted_link_is_granted_by_the_holder_with_its_permissions(
    client: stripe.StripeClient, http: httpx.Client
) -> None:
    customer = create_customer(client, name="Ada Lovelace")
    username = customer.id.lower()
    created = link_session(client, customer)
    ids = bank_account_ids("bank_oauth", username)
    pages = HostedPages(http, created.url)
    pages.open()
    pages.through_bank(
        pages.pick_bank("fcinst_bank_oauth"), username=username, accounts=[ids["Checking"]]
    )
    pages.choose_accounts(ids["Checking"])
    assert pages.post("consent").status_code == 303
    [account] = client.v1.financial_connections.accounts.list(
        params={"account_holder": {"customer": customer.id}}
    ).data
    [entry] = _authorization(client, account["authorization"])["relink_consent_history"]
    assert (entry["kind"], entry["actor"]) == ("granted", "holder")
    assert entry["permissions"] == sorted(created.permissions)


def test_a_hosted_relink_renews_the_consent_by_the_holder(
    client: stripe.StripeClient, platform: NewPlatform, http: httpx.Client
) -> None:
    case = relink_case(client, platform.owner.email)
    pages = HostedPages(http, case.url)
    pages.open()
    pages.press_continue()
    pages.sign_in(case.bank_username, "secret-mfa")
    assert "Your account is reconnected" in text_of(pages.answer("123456"))
    assert _history(client, case.account["authorization"]) == [
        ("granted", "platform"),
        ("renewed", "holder"),
    ]


def test_disconnecting_the_last_account_revokes_the_consent_by_the_platform(
    client: stripe.StripeClient,
) -> None:
    customer = create_customer(client)
    first = create_test_account(client, customer=customer.id)
    second = create_test_account(
        client, customer=customer.id, authorization=first["authorization"], subcategory="savings"
    )
    client.v1.financial_connections.accounts.disconnect(first.id)
    assert _history(client, first["authorization"]) == [("granted", "platform")]
    client.v1.financial_connections.accounts.disconnect(second.id)
    client.v1.financial_connections.accounts.disconnect(second.id)
    assert _history(client, first["authorization"]) == [
        ("granted", "platform"),
        ("revoked", "platform"),
    ]


def test_the_bank_ending_the_consent_is_one_revocation_by_the_bank(
    client: stripe.StripeClient,
) -> None:
    account = wire(create_test_account(client, customer=create_customer(client).id))
    deactivate(client, account.id, "access_denied")
    deactivate(client, account.id, "access_denied")
    assert _history(client, account["authorization"]) == [
        ("granted", "platform"),
        ("revoked", "bank"),
    ]


def test_another_platform_sees_none_of_the_history(
    client: stripe.StripeClient, platform: NewPlatform, runtime: Runtime
) -> None:
    account = create_test_account(client, customer=create_customer(client).id)
    authorization = account["authorization"]
    with runtime.database.unit_of_work() as session:
        other = make_platform(session, name="Other Lending")
        theirs = ConsentHistory(session, Scope(other.platform.id, False))
        ours = ConsentHistory(session, Scope(platform.platform.id, False))
        assert theirs.of_authorization(authorization) == []
        assert [e.kind for e in ours.of_authorization(authorization)] == ["granted"]
        # Our live mode is another scope too.
        live = ConsentHistory(session, Scope(platform.platform.id, True))
        assert live.of_authorization(authorization) == []
