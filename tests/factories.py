"""Plain factory functions that build data through the public API (the stripe SDK)."""

from __future__ import annotations

from typing import Any

import stripe


def create_customer(client: stripe.StripeClient, **params: Any) -> stripe.Customer:
    return client.v1.customers.create(params=params)  # type: ignore[arg-type]


def raw(client: stripe.StripeClient, method: str, path: str, **params: Any) -> stripe.StripeObject:
    return client.deserialize(client.raw_request(method, path, **params), api_mode="V1")


def create_test_account(
    client: stripe.StripeClient,
    *,
    customer: str | None = None,
    connected_account: str | None = None,
    institution: str = "fcinst_bank_non_oauth",
    **params: Any,
) -> stripe.financial_connections.Account:
    holder: dict[str, str]
    if connected_account is not None:
        holder = {"type": "account", "account": connected_account}
    else:
        assert customer is not None
        holder = {"type": "customer", "customer": customer}
    created = raw(
        client,
        "post",
        "/v1/test_helpers/financial_connections/accounts",
        institution=institution,
        account_holder=holder,
        **params,
    )
    return created  # type: ignore[return-value]


def deactivate(client: stripe.StripeClient, account_id: str, cause: str) -> stripe.StripeObject:
    return raw(
        client,
        "post",
        f"/v1/test_helpers/financial_connections/accounts/{account_id}/deactivate",
        cause=cause,
    )
