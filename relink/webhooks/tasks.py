"""Delivering events to webhook endpoints (outbox kind ``webhook.deliver``).

At least once: a receiver dedupes on ``event.id``; Relink never sends two different
event ids for one transition. Each attempt is kept. Live mode retries for up to three
days, sandbox three attempts over a few hours; an endpoint failing for three days
straight is disabled.
"""

from __future__ import annotations

import datetime as dt
import json
import time

import httpx
import structlog

from relink.events.schemas import render_event
from relink.kit import clock, ids
from relink.kit.metrics import WEBHOOK_ATTEMPTS
from relink.models import EndpointStatus, Event, WebhookAttempt, WebhookEndpoint
from relink.outbox.handlers import GiveUp, Job, RetryLater, backoff
from relink.webhooks.notices import notify_endpoint_disabled
from relink.webhooks.repository import lock_endpoint
from relink.webhooks.sending import post_to_target
from relink.webhooks.service import signing_secrets
from relink.webhooks.signing import sign
from relink.webhooks.urls import UnsafeUrl, resolve_webhook_target

log = structlog.get_logger("relink.webhooks")

TIMEOUT_SECONDS = 10.0
LIVE_RETRY_WINDOW = dt.timedelta(days=3)
SANDBOX_MAX_ATTEMPTS = 3
DISABLE_AFTER = dt.timedelta(days=3)
USER_AGENT = "Relink/1.0 (+webhooks)"


def deliver_webhook(job: Job) -> None:
    payload = job.message.payload
    database = job.runtime.database
    with database.read_only() as session:
        event = session.get(Event, payload["event_id"])
        endpoint = session.get(WebhookEndpoint, payload["endpoint_id"])
        if (
            event is None
            or endpoint is None
            or endpoint.deleted
            or endpoint.status != EndpointStatus.enabled
        ):
            return  # nothing to deliver any more
        body = json.dumps(
            render_event(event, api_version=endpoint.api_version),
            separators=(",", ":"),
            ensure_ascii=False,
        )
        secrets = signing_secrets(job.runtime.secret_box, endpoint)
        url = endpoint.url
        livemode = endpoint.livemode
    allow_private = job.runtime.settings.webhook_allow_private_networks
    started = time.monotonic()
    status_code: int | None = None
    excerpt: str | None = None
    error: str | None = None
    try:
        target = resolve_webhook_target(url, livemode=livemode, allow_private=allow_private)
        timestamp = int(time.time())
        answer = post_to_target(
            target,
            body.encode(),
            {
                "Content-Type": "application/json; charset=utf-8",
                "Stripe-Signature": sign(body, timestamp, secrets),
                "User-Agent": USER_AGENT,
            },
            timeout=TIMEOUT_SECONDS,
        )
        status_code = answer.status_code
        excerpt = answer.excerpt
    except UnsafeUrl as unsafe:
        error = str(unsafe)
    except httpx.HTTPError as failure:
        error = f"{type(failure).__name__}: {failure}"[:1000]
    latency_ms = int((time.monotonic() - started) * 1000)
    succeeded = status_code is not None and 200 <= status_code < 300
    WEBHOOK_ATTEMPTS.labels("succeeded" if succeeded else "failed").inc()
    now = clock.now()
    with database.unit_of_work() as session:
        session.add(
            WebhookAttempt(
                id=ids.new("whatt"),
                platform_id=job.message.platform_id or "",
                livemode=livemode,
                endpoint_id=payload["endpoint_id"],
                event_id=payload["event_id"],
                attempted_at=now,
                status_code=status_code,
                latency_ms=latency_ms,
                response_excerpt=excerpt,
                error=error,
                succeeded=succeeded,
            )
        )
        endpoint_row = lock_endpoint(session, payload["endpoint_id"])
        if succeeded:
            endpoint_row.failing_since = None
            return
        if endpoint_row.failing_since is None:
            endpoint_row.failing_since = now
        elif (
            now - endpoint_row.failing_since >= DISABLE_AFTER
            and endpoint_row.status == EndpointStatus.enabled
        ):
            endpoint_row.status = EndpointStatus.disabled
            notify_endpoint_disabled(session, endpoint_row)
            log.warning("webhooks.endpoint_disabled", endpoint=endpoint_row.id)
    reason = error or f"HTTP {status_code}"
    attempts = job.message.attempts
    if not livemode:
        if attempts >= SANDBOX_MAX_ATTEMPTS:
            raise GiveUp(f"{reason}; gave up after {attempts} attempts")
        raise RetryLater(
            reason,
            delay=backoff(attempts, base=dt.timedelta(minutes=10), cap=dt.timedelta(hours=2)),
        )
    if now - job.message.created_at >= LIVE_RETRY_WINDOW:
        raise GiveUp(f"{reason}; gave up after three days")
    raise RetryLater(
        reason, delay=backoff(attempts, base=dt.timedelta(minutes=1), cap=dt.timedelta(hours=6))
    )
