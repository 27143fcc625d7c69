"""/v1/webhook_endpoints."""

from __future__ import annotations

import datetime as dt
from typing import Any

from relink.api.params import Params
from relink.api.rendering import render_list
from relink.api.router import ApiCall, ApiRouter
from relink.events.repository import WebhookEndpointRepository
from relink.kit import clock
from relink.kit.pagination import paginate, read_cursor
from relink.models import WebhookEndpoint
from relink.webhooks import service
from relink.webhooks.schemas import render_webhook_endpoint

router = ApiRouter()


def _changes(params: Params, *, creating: bool) -> service.EndpointChanges:
    changes = service.EndpointChanges(
        url=params.text("url", required=creating, max_length=2048),
        enabled_events=params.strings("enabled_events"),
        # Fixed at creation, as in Stripe: an update does not take it.
        api_version=params.text("api_version", max_length=40) if creating else None,
        description=params.text("description", blank_is_none=False),
        disabled=None if creating else params.boolean("disabled"),
        metadata=params.metadata(),
    )
    params.ignore("connect")
    if creating and changes.enabled_events is None:
        params.text("enabled_events", required=True)
    return changes


@router.post("/v1/webhook_endpoints")
def create_webhook_endpoint(call: ApiCall) -> dict[str, Any]:
    changes = _changes(call.params, creating=True)
    call.params.finish()
    endpoint, secret = service.create_endpoint(
        WebhookEndpointRepository(call.session, call.scope),
        call.runtime.secret_box,
        changes,
        allow_private=call.runtime.settings.webhook_allow_private_networks,
    )
    return render_webhook_endpoint(endpoint, secret=secret)


@router.get("/v1/webhook_endpoints/{id}")
def retrieve_webhook_endpoint(call: ApiCall) -> dict[str, Any]:
    call.params.finish()
    return render_webhook_endpoint(
        WebhookEndpointRepository(call.session, call.scope).get(call.path["id"])
    )


@router.post("/v1/webhook_endpoints/{id}")
def update_webhook_endpoint(call: ApiCall) -> dict[str, Any]:
    changes = _changes(call.params, creating=False)
    call.params.finish()
    endpoint = WebhookEndpointRepository(call.session, call.scope).get(call.path["id"])
    service.update_endpoint(
        endpoint,
        changes,
        livemode=call.scope.livemode,
        allow_private=call.runtime.settings.webhook_allow_private_networks,
    )
    return render_webhook_endpoint(endpoint)


@router.post("/v1/webhook_endpoints/{id}/roll_secret")
def roll_webhook_endpoint_secret(call: ApiCall) -> dict[str, Any]:
    """A Relink extension (Stripe rolls secrets in its dashboard only): a new signing
    secret, returned once; the old one keeps signing for ``previous_secret_expires_in``
    seconds (0 to 86400, default 86400)."""
    limit = int(service.MAX_SECRET_OVERLAP.total_seconds())
    expires_in = call.params.integer("previous_secret_expires_in", minimum=0, maximum=limit)
    call.params.finish()
    endpoint = WebhookEndpointRepository(call.session, call.scope).get(call.path["id"])
    secret = service.roll_secret(
        endpoint,
        call.runtime.secret_box,
        # Real time, not the sandbox clock: the receivers that verify are real.
        now=clock.now(),
        overlap=dt.timedelta(seconds=limit if expires_in is None else expires_in),
    )
    return render_webhook_endpoint(endpoint, secret=secret)


@router.delete("/v1/webhook_endpoints/{id}")
def delete_webhook_endpoint(call: ApiCall) -> dict[str, Any]:
    call.params.finish()
    endpoint = WebhookEndpointRepository(call.session, call.scope).get(call.path["id"])
    endpoint.deleted = True
    return {"id": endpoint.id, "object": "webhook_endpoint", "deleted": True}


@router.get("/v1/webhook_endpoints")
def list_webhook_endpoints(call: ApiCall) -> dict[str, Any]:
    cursor = read_cursor(call.params)
    call.params.finish()
    repository = WebhookEndpointRepository(call.session, call.scope)
    repository.check_cursor(cursor)
    page = paginate(call.session, repository.select(), WebhookEndpoint.id, cursor)
    return render_list(
        "/v1/webhook_endpoints", [render_webhook_endpoint(e) for e in page.items], page.has_more
    )
