from __future__ import annotations

import stripe
from sqlalchemy import select

from relink.accounts.repository import AccountRepository
from relink.email.messages import RenderedEmail
from relink.email.preview import preview_link, preview_relink_email
from relink.kit.clock import FrozenClock
from relink.models import MailboxMessage
from relink.outbox.dispatcher import OutboxDispatcher
from relink.platforms.service import NewPlatform
from relink.runtime import Runtime
from relink.tenancy import Scope
from relink.worker import HANDLERS
from tests.email.factories import eligible_account, request_relink_email
from tests.factories import raw


def preview(runtime: Runtime, platform: NewPlatform, account_id: str) -> RenderedEmail:
    scope = Scope(platform.platform.id, False)
    with runtime.database.read_only() as db:
        account = AccountRepository(db, scope).get(account_id)
        return preview_relink_email(db, scope, runtime, account)


def test_preview_equals_the_sent_email_except_the_link(
    client: stripe.StripeClient,
    platform: NewPlatform,
    runtime: Runtime,
    frozen_clock: FrozenClock,
) -> None:
    account = eligible_account(client, platform, name="Dana Holder", preferred_locales=["de"])
    previewed = preview(runtime, platform, account.id)

    session = request_relink_email(client, account)
    OutboxDispatcher(runtime, HANDLERS).drain()

    with runtime.database.read_only() as db:
        [sent] = db.scalars(select(MailboxMessage).where(MailboxMessage.session_id == session.id))
    placeholder = preview_link(runtime)
    assert (previewed.to, previewed.sender, previewed.subject) == (
        sent.to,
        sent.sender,
        sent.subject,
    )
    assert previewed.text == sent.text.replace(session.url, placeholder)
    assert previewed.html == sent.html.replace(session.url, placeholder)
    assert session.url not in previewed.text


def test_preview_creates_no_session(
    client: stripe.StripeClient, platform: NewPlatform, runtime: Runtime
) -> None:
    account = eligible_account(client, platform)

    preview(runtime, platform, account.id)

    listed = raw(
        client, "get", "/v1/financial_connections/sessions", relink_options={"account": account.id}
    )
    assert listed["data"] == []
