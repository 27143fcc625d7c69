"""Accounts for dashboard tests, built through the API."""

from __future__ import annotations

import stripe
from sqlalchemy import select

from relink.kit import clock, ids
from relink.models import Account, Authorization, Customer, Institution
from relink.runtime import Runtime
from tests.factories import create_customer, create_test_account, deactivate

SCRIPT = "<script>alert(1)</script>"


def broken_account(
    client: stripe.StripeClient, email: str, *, name: str = "Ada Holder"
) -> stripe.financial_connections.Account:
    """An inactive account that needs a relink, held by a customer with ``email``."""
    customer = create_customer(client, email=email, name=name)
    account = create_test_account(client, customer=customer.id)
    deactivate(client, account.id, "access_expired")
    return account


def live_account(runtime: Runtime, platform_id: str, *, email: str = "holder@example.com") -> str:
    """A live-mode account, written directly (the API's test helpers work in test mode only)."""
    now = clock.now()
    with runtime.database.unit_of_work() as db:
        institution = db.scalars(select(Institution.id).order_by(Institution.id)).first()
        assert institution is not None
        customer = Customer(
            id=ids.new("cus"), platform_id=platform_id, livemode=True, email=email, created_at=now
        )
        authorization = Authorization(
            id=ids.new("fcauthz"),
            platform_id=platform_id,
            livemode=True,
            institution_id=institution,
            holder_type="customer",
            customer_id=customer.id,
            created_at=now,
            updated_at=now,
        )
        account = Account(
            id=ids.new("fca"),
            platform_id=platform_id,
            livemode=True,
            authorization_id=authorization.id,
            institution_id=institution,
            holder_type="customer",
            customer_id=customer.id,
            bank_account_id="live-1",
            display_name="Live checking",
            last4="4242",
            created_at=now,
            updated_at=now,
        )
        db.add(customer)
        db.flush()
        db.add(authorization)
        db.flush()
        db.add(account)
    return account.id
