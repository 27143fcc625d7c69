"""Every outbox kind and its handler, listed explicitly."""

from __future__ import annotations

from relink.events.service import WEBHOOK_DELIVERY
from relink.outbox.worker import Handler
from relink.webhooks.tasks import deliver_webhook

HANDLERS: dict[str, Handler] = {
    WEBHOOK_DELIVERY: deliver_webhook,
}
