from __future__ import annotations

from typing import Any

import pytest
import stripe

from tests.factories import unchecked


def _create(client: stripe.StripeClient, **params: Any) -> stripe.Account:
    return client.v1.accounts.create(params=unchecked(params))


def test_create_returns_the_connected_account_with_its_fields(
    client: stripe.StripeClient,
) -> None:
    account = _create(
        client,
        email="merchant@example.com",
        business_profile={"name": "Corner Shop"},
        metadata={"ref": "7"},
        type="custom",
        country="US",
    )
    assert account.id.startswith("acct_")
    assert account.object == "account"
    assert account.email == "merchant@example.com"
    assert account.business_profile is not None
    assert account.business_profile.name == "Corner Shop"
    assert account.metadata is not None and account.metadata.to_dict() == {"ref": "7"}
    assert account.to_dict()["livemode"] is False


def test_create_with_an_invalid_email_is_refused_and_creates_nothing(
    client: stripe.StripeClient,
) -> None:
    with pytest.raises(stripe.InvalidRequestError) as raised:
        _create(client, email="not-an-email")
    assert raised.value.param == "email"
    assert client.v1.accounts.list().data == []


def test_create_with_an_unknown_parameter_is_parameter_unknown(
    client: stripe.StripeClient,
) -> None:
    with pytest.raises(stripe.InvalidRequestError) as raised:
        _create(client, business_profile={"name": "Shop", "mcc": "5411"})
    assert raised.value.code == "parameter_unknown"
    assert raised.value.param == "business_profile[mcc]"


def test_retrieve_returns_the_connected_account(client: stripe.StripeClient) -> None:
    created = _create(client, email="merchant@example.com")
    retrieved = client.v1.accounts.retrieve(created.id)
    assert retrieved.to_dict() == created.to_dict()


def test_retrieve_unknown_connected_account_is_resource_missing(
    client: stripe.StripeClient,
) -> None:
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.accounts.retrieve("acct_doesnotexist")
    assert raised.value.http_status == 404
    assert raised.value.code == "resource_missing"
    assert raised.value.user_message == "No such account: 'acct_doesnotexist'"


def test_update_changes_email_name_and_metadata(client: stripe.StripeClient) -> None:
    created = _create(
        client,
        email="a@example.com",
        business_profile={"name": "Old"},
        metadata={"a": "1", "b": "2"},
    )
    updated = client.v1.accounts.update(
        created.id,
        params={
            "email": "b@example.com",
            "business_profile": {"name": "New"},
            "metadata": {"a": ""},
        },
    )
    assert updated.email == "b@example.com"
    assert updated.business_profile is not None and updated.business_profile.name == "New"
    assert updated.metadata is not None and updated.metadata.to_dict() == {"b": "2"}
    assert client.v1.accounts.retrieve(created.id).email == "b@example.com"


def test_update_with_empty_email_clears_it(client: stripe.StripeClient) -> None:
    created = _create(client, email="a@example.com")
    updated = client.v1.accounts.update(created.id, params={"email": ""})
    assert updated.email is None


def test_update_without_parameters_changes_nothing(client: stripe.StripeClient) -> None:
    created = _create(client, email="a@example.com", business_profile={"name": "Shop"})
    assert client.v1.accounts.update(created.id).to_dict() == created.to_dict()


def test_list_returns_connected_accounts_newest_first(client: stripe.StripeClient) -> None:
    first = _create(client, email="one@example.com")
    second = _create(client, email="two@example.com")
    listed = client.v1.accounts.list()
    assert [a.id for a in listed.data] == [second.id, first.id]
    assert listed.url == "/v1/accounts"


def test_list_paginates_with_limit_and_starting_after(client: stripe.StripeClient) -> None:
    created = [_create(client, email=f"m{n}@example.com").id for n in range(3)]
    page = client.v1.accounts.list(params={"limit": 2})
    assert page.has_more is True
    rest = client.v1.accounts.list(params={"limit": 2, "starting_after": page.data[-1].id})
    assert rest.has_more is False
    assert [a.id for a in page.data + rest.data] == list(reversed(created))
