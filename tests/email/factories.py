"""Plain factory functions for email tests, through the public API (the stripe SDK)."""

from __future__ import annotations

from typing import Any

import stripe
from sqlalchemy import select

from relink.models import EmailDelivery, OutboxMessage, SessionTimelineEntry
from relink.platforms.service import NewPlatform
from relink.runtime import Runtime
from relink.sessions.service import RELINK_EMAIL
from tests.factories import (
    WireObject,
    create_customer,
    create_session,
    create_test_account,
    deactivate,
    relink_params,
)


def eligible_account(
    client: stripe.StripeClient,
    platform: NewPlatform,
    *,
    cause: str = "access_expired",
    last4: str = "6789",
    **customer: Any,
) -> stripe.financial_connections.Account:
    """An inactive account whose holder's email is the platform owner's confirmed one."""
    holder = create_customer(client, email=platform.owner.email, **customer)
    account = create_test_account(
        client, customer=holder.id, last4=last4, display_name="Everyday Checking"
    )
    deactivate(client, account.id, cause)
    return account


def request_relink_email(
    client: stripe.StripeClient, account: stripe.financial_connections.Account
) -> WireObject:
    """A hosted email relink session for ``account`` (the dashboard's "Request relink")."""
    return create_session(client, **relink_params(account, "email"))


def timeline_entry(runtime: Runtime, session_id: str, kind: str) -> SessionTimelineEntry:
    with runtime.database.read_only() as db:
        return db.scalars(
            select(SessionTimelineEntry).where(
                SessionTimelineEntry.session_id == session_id, SessionTimelineEntry.kind == kind
            )
        ).one()


def email_row(runtime: Runtime, session_id: str) -> OutboxMessage:
    with runtime.database.read_only() as db:
        return db.scalars(
            select(OutboxMessage).where(
                OutboxMessage.kind == RELINK_EMAIL,
                OutboxMessage.dedupe_key == f"email:relink:{session_id}",
            )
        ).one()


def delivery(runtime: Runtime, session_id: str) -> EmailDelivery | None:
    with runtime.database.read_only() as db:
        return db.get(EmailDelivery, session_id)
