"""Emitting events: one event row plus one outbox delivery per matching enabled endpoint,
all in the caller's transaction."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from relink.kit import ids
from relink.kit.provenance import EventContext
from relink.models import Event, EventType, Platform
from relink.tenancy import Scope
from relink.webhooks.service import queue_deliveries


def emit(
    session: Session,
    scope: Scope,
    event_type: EventType,
    data_object: dict[str, Any],
    context: EventContext,
    *,
    previous_attributes: dict[str, Any] | None = None,
) -> Event:
    platform = session.get(Platform, scope.platform_id)
    assert platform is not None
    event = Event(
        id=ids.new("evt"),
        platform_id=scope.platform_id,
        livemode=scope.livemode,
        type=event_type,
        api_version=platform.default_api_version,
        object_id=str(data_object.get("id", "")),
        data_object=data_object,
        previous_attributes=previous_attributes,
        request_id=context.request_id,
        idempotency_key=context.idempotency_key,
        created_at=scope.now(),
    )
    session.add(event)
    queue_deliveries(session, scope, event)
    return event
