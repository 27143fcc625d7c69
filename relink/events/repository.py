from __future__ import annotations

from sqlalchemy import Select

from relink.models import Event, WebhookAttempt, WebhookEndpoint
from relink.tenancy import ScopedRepository


class EventRepository(ScopedRepository[Event]):
    model = Event
    object_name = "event"


class WebhookEndpointRepository(ScopedRepository[WebhookEndpoint]):
    model = WebhookEndpoint
    object_name = "webhook_endpoint"

    def select(self) -> Select[WebhookEndpoint]:
        return super().select().where(WebhookEndpoint.deleted.is_(False))


class WebhookAttemptRepository(ScopedRepository[WebhookAttempt]):
    model = WebhookAttempt
    object_name = "webhook_attempt"
