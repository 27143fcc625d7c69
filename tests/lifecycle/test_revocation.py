from __future__ import annotations

import stripe
from sqlalchemy import select

from relink.lifecycle.revocation import REVOKE
from relink.models import Authorization, OutboxMessage
from relink.outbox.dispatcher import OutboxDispatcher
from relink.platforms.service import NewPlatform
from relink.runtime import Runtime
from relink.worker import HANDLERS
from tests.factories import create_customer, create_test_account


def _revokes(runtime: Runtime, authorization_id: str) -> list[OutboxMessage]:
    with runtime.database.read_only() as db:
        return list(
            db.scalars(
                select(OutboxMessage).where(
                    OutboxMessage.kind == REVOKE,
                    OutboxMessage.payload["authorization_id"].as_string() == authorization_id,
                )
            )
        )


def _grant_sealed(runtime: Runtime, authorization_id: str) -> bytes | str | None:
    with runtime.database.read_only() as db:
        return db.scalar(
            select(Authorization.grant_sealed).where(Authorization.id == authorization_id)
        )


def test_disconnecting_the_last_account_queues_one_revocation_and_the_grant_is_forgotten(
    client: stripe.StripeClient, runtime: Runtime, platform: NewPlatform
) -> None:
    customer = create_customer(client, email=platform.owner.email)
    account = create_test_account(client, customer=customer.id)
    assert _grant_sealed(runtime, account["authorization"]) is not None

    client.v1.financial_connections.accounts.disconnect(account.id)
    client.v1.financial_connections.accounts.disconnect(account.id)

    assert len(_revokes(runtime, account["authorization"])) == 1
    OutboxDispatcher(runtime, HANDLERS).drain()
    assert _grant_sealed(runtime, account["authorization"]) is None
