"""Telling a platform's owners that Relink disabled one of their webhook endpoints."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session as DbSession

from relink.email.backends import MessageTags, SendOutcome, backend_for
from relink.email.messages import RenderedEmail, build_message, message_id_for
from relink.models import Platform, Role, User, WebhookEndpoint
from relink.outbox.handlers import GiveUp, Job, RetryLater
from relink.outbox.store import enqueue
from relink.web.templating import render

ENDPOINT_DISABLED = "email.webhook_endpoint_disabled"
TEMPLATE = "email/webhook_endpoint_disabled"


def notify_endpoint_disabled(db: DbSession, endpoint: WebhookEndpoint) -> None:
    """Queue one email per owner (in the transaction that disables the endpoint)."""
    owners = db.scalars(
        select(User.id).where(User.platform_id == endpoint.platform_id, User.role == Role.owner)
    )
    for owner_id in owners:
        enqueue(
            db,
            ENDPOINT_DISABLED,
            {"endpoint_id": endpoint.id, "user_id": owner_id},
            dedupe_key=f"email:endpoint-disabled:{endpoint.id}:{owner_id}:{endpoint.failing_since}",
            platform_id=endpoint.platform_id,
            livemode=endpoint.livemode,
        )


def send_endpoint_disabled(job: Job) -> None:
    runtime = job.runtime
    with runtime.database.read_only() as db:
        endpoint = db.get(WebhookEndpoint, job.message.payload["endpoint_id"])
        owner = db.get(User, job.message.payload["user_id"])
        if endpoint is None or owner is None:
            return
        platform = db.get(Platform, endpoint.platform_id)
        assert platform is not None
        locale = platform.default_locale
        context = {
            "platform_name": platform.name,
            "url": endpoint.url,
            "endpoint_id": endpoint.id,
            "mode": "live" if endpoint.livemode else "test",
        }
        tags = MessageTags(endpoint.platform_id, endpoint.livemode)
    sender = runtime.settings.email_from
    rendered = RenderedEmail(
        subject=render(f"{TEMPLATE}/subject.txt", context, locale=locale).strip(),
        text=render(f"{TEMPLATE}/body.txt", context, locale=locale),
        html=render(f"{TEMPLATE}/body.html", context, locale=locale),
        to=owner.email,
        sender=sender,
        message_id=message_id_for(job.message.id, sender),
    )
    result = backend_for(runtime).send(build_message(rendered), tags)
    if result.accepted:
        return
    if result.outcome == SendOutcome.permanent:
        raise GiveUp(f"SMTP refused: {result.reply}")
    raise RetryLater(f"SMTP deferred: {result.reply}")
