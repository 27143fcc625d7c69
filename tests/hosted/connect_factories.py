"""Link sessions (no relink_options) created with the stripe SDK, and their holders."""

from __future__ import annotations

from typing import Any

import stripe

from relink.models import Account, Authorization
from relink.runtime import Runtime
from tests.factories import WireObject, create_customer, create_session

RETURN_URL = "http://localhost/done"


def link_session(
    client: stripe.StripeClient,
    customer: stripe.Customer | None = None,
    *,
    ui_mode: str = "hosted",
    return_url: str = RETURN_URL,
    **params: Any,
) -> WireObject:
    """A link session for a (new) customer, asking for payment_method and balances."""
    customer = customer or create_customer(client, name="Ada Lovelace")
    request: dict[str, Any] = {
        "account_holder": {"type": "customer", "customer": customer.id},
        "permissions": ["payment_method", "balances"],
        **params,
    }
    if ui_mode == "hosted":
        request |= {"ui_mode": "hosted", "hosted": {"return_url": return_url}}
    return create_session(client, **request)


def stored_authorization(runtime: Runtime, authorization_id: str) -> Authorization:
    with runtime.database.read_only() as db:
        found = db.get(Authorization, authorization_id)
        assert found is not None
        return found


def stored_account(runtime: Runtime, account_id: str) -> Account:
    with runtime.database.read_only() as db:
        found = db.get(Account, account_id)
        assert found is not None
        return found
