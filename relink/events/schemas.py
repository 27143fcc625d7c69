from __future__ import annotations

from typing import Any

from relink.kit.clock import to_unix
from relink.models import Event


def render_event(event: Event, *, api_version: str | None = None) -> dict[str, Any]:
    """The event at ``api_version`` (a webhook endpoint's own), else at the version it
    was created at: its platform's default then."""
    data: dict[str, Any] = {"object": event.data_object}
    if event.previous_attributes is not None:
        data["previous_attributes"] = event.previous_attributes
    return {
        "id": event.id,
        "object": "event",
        "api_version": api_version or event.api_version,
        "created": to_unix(event.created_at),
        "data": data,
        "livemode": event.livemode,
        "pending_webhooks": 0,
        "request": {"id": event.request_id, "idempotency_key": event.idempotency_key},
        "type": event.type,
    }
