"""Customers: editing the email address (how missing_email is fixed)."""

from __future__ import annotations

import httpx
import pytest
import stripe

from relink.email.bounces import suppress
from relink.models import SuppressionReason
from relink.platforms.service import NewPlatform
from relink.tenancy import Scope
from tests.conftest import RunningServer
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


# -- the suppression list ---------------------------------------------------------------------


def _suppress(server: RunningServer, platform: NewPlatform, address: str) -> None:
    scope = Scope(platform.platform.id, livemode=False)
    with server.runtime.database.unit_of_work() as db:
        suppress(
            db,
            scope,
            address,
            SuppressionReason.bounced,
            "550 5.1.1 <a@b>: User unknown",
            None,
            scope.now(),
        )


def test_the_holder_page_shows_a_suppressed_address_and_the_operator_lifts_it(
    server: RunningServer, platform: NewPlatform, owner: httpx.Client, client: stripe.StripeClient
) -> None:
    customer = create_customer(client, email="gone@example.com")
    _suppress(server, platform, "gone@example.com")

    shown = owner.get(f"/customers/{customer.id}")
    assert "an email to gone@example.com bounced" in shown.text
    assert "550 5.1.1 &lt;a@b&gt;: User unknown" in shown.text
    confirm = owner.get(f"/customers/{customer.id}/lift-suppression")
    assert "Relink will email gone@example.com again." in confirm.text
    assert "no longer suppressed" not in confirm.text  # nothing lifted by looking
    lifted = owner.post(
        f"/customers/{customer.id}/lift-suppression",
        data={"csrf_token": page_csrf(owner, f"/customers/{customer.id}/lift-suppression")},
    )

    assert lifted.status_code == 303
    assert lifted.headers["location"] == f"/customers/{customer.id}?notice=suppression_lifted"
    after = owner.get(f"/customers/{customer.id}")
    assert "was lifted on" in after.text and platform.owner.email in after.text


def test_lifting_without_the_csrf_token_is_refused_and_changes_nothing(
    server: RunningServer, platform: NewPlatform, owner: httpx.Client, client: stripe.StripeClient
) -> None:
    customer = create_customer(client, email="gone2@example.com")
    _suppress(server, platform, "gone2@example.com")

    refused = owner.post(f"/customers/{customer.id}/lift-suppression", data={})

    assert refused.status_code == 403
    assert "an email to gone2@example.com bounced" in owner.get(f"/customers/{customer.id}").text
