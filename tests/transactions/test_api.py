from __future__ import annotations

import pytest
import stripe

from relink.outbox.dispatcher import OutboxDispatcher
from relink.runtime import Runtime
from relink.worker import HANDLERS
from tests.factories import create_customer, create_test_account, unchecked

# 2026-12-01 in milliseconds: what `Date.now()` gives a JavaScript client.
MILLISECONDS = 1_796_083_200_000


def _account(client: stripe.StripeClient) -> stripe.financial_connections.Account:
    return create_test_account(client, customer=create_customer(client).id)


@pytest.mark.parametrize("operator", ["gt", "gte", "lt", "lte"])
@pytest.mark.parametrize("value", [MILLISECONDS, -1, "1e3", "12.5"])
def test_an_out_of_range_or_malformed_transacted_at_is_a_400_naming_the_param(
    client: stripe.StripeClient, operator: str, value: object
) -> None:
    account = _account(client)
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.financial_connections.transactions.list(
            params=unchecked({"account": account.id, "transacted_at": {operator: value}})
        )
    assert raised.value.http_status == 400
    assert raised.value.param == f"transacted_at[{operator}]"


def test_transacted_at_as_one_timestamp_lists_the_transactions_of_that_second(
    client: stripe.StripeClient, runtime: Runtime
) -> None:
    account = create_test_account(
        client, customer=create_customer(client).id, institution="fcinst_test_non_oauth"
    )
    client.v1.financial_connections.accounts.subscribe(
        account.id, params={"features": ["transactions"]}
    )
    OutboxDispatcher(runtime, HANDLERS).drain()
    every = client.v1.financial_connections.transactions.list(
        params={"account": account.id, "limit": 100}
    ).data
    moment = every[len(every) // 2].transacted_at
    listed = client.v1.financial_connections.transactions.list(
        params={"account": account.id, "limit": 100, "transacted_at": moment}
    ).data
    assert [t.id for t in listed] == [t.id for t in every if t.transacted_at == moment]
