"""Webhook endpoints and their delivery attempts, always of one ``(platform, livemode)``."""

from __future__ import annotations

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from relink.kit.pagination import Cursor, Page, paginate
from relink.models import EndpointStatus, EventType, WebhookAttempt, WebhookEndpoint
from relink.tenancy import ScopedRepository

# What ``enabled_events`` holds to subscribe to every event type, present and future.
ALL_EVENTS = "*"
# A page of the attempt log (newest first) and the most endpoints an event's page lists.
ATTEMPTS_LIMIT = 50
ENDPOINTS_LIMIT = 100


class WebhookEndpointRepository(ScopedRepository[WebhookEndpoint]):
    """The scope's endpoints that are not deleted: a deleted one answers as missing."""

    model = WebhookEndpoint
    object_name = "webhook_endpoint"

    def select(self) -> Select[WebhookEndpoint]:
        return super().select().where(WebhookEndpoint.deleted.is_(False))

    def page(self, cursor: Cursor) -> Page[WebhookEndpoint]:
        return paginate(self.session, self.select(), WebhookEndpoint.id, cursor)

    def newest(self, limit: int = ENDPOINTS_LIMIT) -> list[WebhookEndpoint]:
        return list(
            self.session.scalars(self.select().order_by(WebhookEndpoint.id.desc()).limit(limit))
        )

    def subscribed_to(self, event_type: EventType) -> list[WebhookEndpoint]:
        """The enabled endpoints that take ``event_type`` (by name or with :data:`ALL_EVENTS`)."""
        enabled = self.select().where(WebhookEndpoint.status == EndpointStatus.enabled)
        return [
            endpoint
            for endpoint in self.session.scalars(enabled.order_by(WebhookEndpoint.id))
            if endpoint_wants(endpoint, event_type)
        ]


def endpoint_wants(endpoint: WebhookEndpoint, event_type: EventType) -> bool:
    """Whether the endpoint is enabled and subscribed to ``event_type``."""
    return endpoint.status == EndpointStatus.enabled and (
        ALL_EVENTS in endpoint.enabled_events or event_type in endpoint.enabled_events
    )


class WebhookAttemptRepository(ScopedRepository[WebhookAttempt]):
    model = WebhookAttempt
    object_name = "webhook_attempt"

    def of_endpoint(self, endpoint_id: str, limit: int = ATTEMPTS_LIMIT) -> list[WebhookAttempt]:
        return self._newest(self.select().where(WebhookAttempt.endpoint_id == endpoint_id), limit)

    def of_event(self, event_id: str, limit: int = ATTEMPTS_LIMIT) -> list[WebhookAttempt]:
        return self._newest(self.select().where(WebhookAttempt.event_id == event_id), limit)

    def _newest(self, query: Select[WebhookAttempt], limit: int) -> list[WebhookAttempt]:
        newest_first = query.order_by(WebhookAttempt.attempted_at.desc(), WebhookAttempt.id.desc())
        return list(self.session.scalars(newest_first.limit(limit)))


def lock_endpoint(session: Session, endpoint_id: str) -> WebhookEndpoint:
    """The endpoint row, locked for the delivery job that records an attempt (the job
    knows the endpoint by id from its own message, so it needs no scope)."""
    return session.scalars(
        select(WebhookEndpoint).where(WebhookEndpoint.id == endpoint_id).with_for_update()
    ).one()
