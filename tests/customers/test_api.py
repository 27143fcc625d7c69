from __future__ import annotations

import pytest
import stripe

from tests.factories import create_customer


def test_create_customer_returns_the_customer_with_its_fields(client: stripe.StripeClient) -> None:
    customer = create_customer(
        client,
        email="holder@example.com",
        name="Ada Holder",
        preferred_locales=["de", "en"],
        metadata={"ref": "42"},
    )
    assert customer.id.startswith("cus_")
    assert customer.email == "holder@example.com"
    assert customer.name == "Ada Holder"
    assert customer.preferred_locales == ["de", "en"]
    assert customer.metadata is not None
    assert customer.metadata.to_dict() == {"ref": "42"}
    assert customer.livemode is False


def test_retrieve_unknown_customer_raises_invalid_request_with_resource_missing(
    client: stripe.StripeClient,
) -> None:
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.customers.retrieve("cus_doesnotexist")
    assert raised.value.http_status == 404
    assert raised.value.code == "resource_missing"
    assert raised.value.param == "id"
    assert "No such customer: 'cus_doesnotexist'" in str(raised.value.user_message)


def test_update_customer_changes_email_and_unsets_metadata_key(client: stripe.StripeClient) -> None:
    customer = create_customer(client, email="a@example.com", metadata={"a": "1", "b": "2"})
    updated = client.v1.customers.update(
        customer.id, params={"email": "b@example.com", "metadata": {"a": ""}}
    )
    assert updated.email == "b@example.com"
    assert updated.metadata is not None
    assert updated.metadata.to_dict() == {"b": "2"}


def test_list_customers_filters_by_email(client: stripe.StripeClient) -> None:
    create_customer(client, email="one@example.com")
    wanted = create_customer(client, email="two@example.com")
    listed = client.v1.customers.list(params={"email": "two@example.com"})
    assert [c.id for c in listed.data] == [wanted.id]


def test_delete_customer_marks_it_deleted(client: stripe.StripeClient) -> None:
    customer = create_customer(client, email="gone@example.com")
    deleted = client.v1.customers.delete(customer.id)
    assert deleted.deleted is True
    assert client.v1.customers.retrieve(customer.id).to_dict().get("deleted") is True


def test_create_customer_with_invalid_email_names_the_param_and_creates_nothing(
    client: stripe.StripeClient,
) -> None:
    with pytest.raises(stripe.InvalidRequestError) as raised:
        create_customer(client, email="not-an-email", name="Nobody")
    assert raised.value.param == "email"
    assert client.v1.customers.list().data == []
