"""Telling a platform's owners that Relink disabled one of their webhook endpoints."""

from __future__ import annotations

from sqlalchemy.orm import Session as DbSession

from relink.email.owners import queue_owner_emails, send_owner_email
from relink.models import Platform, WebhookEndpoint
from relink.outbox.handlers import Job

ENDPOINT_DISABLED = "email.webhook_endpoint_disabled"
TEMPLATE = "email/webhook_endpoint_disabled"


def notify_endpoint_disabled(db: DbSession, endpoint: WebhookEndpoint) -> None:
    """Queue one email per owner (in the transaction that disables the endpoint)."""
    queue_owner_emails(
        db,
        ENDPOINT_DISABLED,
        {"endpoint_id": endpoint.id},
        dedupe_key=f"email:endpoint-disabled:{endpoint.id}:{endpoint.failing_since}",
        platform_id=endpoint.platform_id,
        livemode=endpoint.livemode,
    )


def send_endpoint_disabled(job: Job) -> None:
    with job.runtime.database.read_only() as db:
        endpoint = db.get(WebhookEndpoint, job.message.payload["endpoint_id"])
        if endpoint is None:
            return
        platform = db.get(Platform, endpoint.platform_id)
        assert platform is not None
        context = {"url": endpoint.url, "endpoint_id": endpoint.id}
        livemode = endpoint.livemode
    send_owner_email(job, TEMPLATE, context, platform=platform, livemode=livemode)
