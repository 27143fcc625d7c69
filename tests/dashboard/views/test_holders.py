"""Customers: editing the email address (how missing_email is fixed)."""

from __future__ import annotations

import httpx
import pytest
import stripe

from tests.dashboard.factories import page_csrf
from tests.factories import create_customer


# With ``<`` in it, a To header names another mailbox: the API refuses it, and so does the
# dashboard (the worker would otherwise mail ``script``).
@pytest.mark.parametrize("address", ["not-an-email", "ada<script>@example.com"])
def test_an_invalid_email_is_refused_with_a_message_next_to_the_field(
    owner: httpx.Client, client: stripe.StripeClient, address: str
) -> None:
    customer = create_customer(client)
    response = owner.post(
        f"/customers/{customer.id}",
        data={"csrf_token": page_csrf(owner), "email": address, "language": ""},
    )
    assert response.status_code == 400
    assert 'id="email-error"' in response.text
    assert client.v1.customers.retrieve(customer.id).email is None


def test_saving_sets_the_email_and_preferred_language(
    owner: httpx.Client, client: stripe.StripeClient
) -> None:
    customer = create_customer(client)
    response = owner.post(
        f"/customers/{customer.id}",
        data={"csrf_token": page_csrf(owner), "email": "fixed@example.com", "language": "de"},
    )
    assert response.status_code == 303
    saved = client.v1.customers.retrieve(customer.id)
    assert (saved.email, saved.preferred_locales) == ("fixed@example.com", ["de"])


def test_without_email_lists_only_the_customers_a_relink_email_cannot_reach(
    owner: httpx.Client, client: stripe.StripeClient
) -> None:
    missing = create_customer(client, name="No Address")
    reachable = create_customer(client, email="reach@example.com", name="Has Address")
    listed = owner.get("/customers?without_email=1").text
    assert missing.id in listed and reachable.id not in listed
    assert 'name="without_email" value="1" checked' in listed
    both = owner.get("/customers").text
    assert missing.id in both and reachable.id in both
