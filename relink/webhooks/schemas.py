from __future__ import annotations

from typing import Any

from relink.kit.clock import to_unix
from relink.models import WebhookEndpoint


def render_webhook_endpoint(
    endpoint: WebhookEndpoint, *, secret: str | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": endpoint.id,
        "object": "webhook_endpoint",
        "api_version": endpoint.api_version,
        "application": None,
        "created": to_unix(endpoint.created_at),
        "description": endpoint.description,
        "enabled_events": endpoint.enabled_events,
        "livemode": endpoint.livemode,
        "metadata": endpoint.metadata_,
        "status": endpoint.status,
        "url": endpoint.url,
    }
    if secret is not None:
        body["secret"] = secret
    return body


def render_deleted_webhook_endpoint(endpoint: WebhookEndpoint) -> dict[str, Any]:
    return {"id": endpoint.id, "object": "webhook_endpoint", "deleted": True}
