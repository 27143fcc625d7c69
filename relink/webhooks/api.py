"""/v1/webhook_endpoints."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from pydantic import Field

from relink.api.params import (
    Boolean,
    EndpointParams,
    Ignored,
    Integer,
    ListParams,
    Metadata,
    NoParams,
    Strings,
    Text,
)
from relink.api.rendering import render_list
from relink.api.router import ApiCall, ApiRouter
from relink.webhooks import service
from relink.webhooks.repository import WebhookEndpointRepository
from relink.webhooks.schemas import render_deleted_webhook_endpoint, render_webhook_endpoint

router = ApiRouter()


OVERLAP_SECONDS = int(service.MAX_SECRET_OVERLAP.total_seconds())

Url = Annotated[str, Text(2048)]
Description = Annotated[str | None, Text(blank_is_none=False)]
EventTypes = Annotated[list[str] | None, Strings(allow_empty=True)]
# Stripe's Connect endpoints; Relink has no Connect events to send to one.
Connect = Annotated[None, Ignored({"type": "boolean"})]


class CreateWebhookEndpoint(EndpointParams):
    url: Url
    enabled_events: Annotated[list[str], Strings(allow_empty=True)]
    # Fixed at creation, as in Stripe: an update does not take it.
    api_version: Annotated[str | None, Text(40)] = None
    description: Description = None
    metadata: Annotated[dict[str, str | None] | None, Metadata()] = None
    connect: Connect = None


class UpdateWebhookEndpoint(EndpointParams):
    url: Annotated[str | None, Text(2048)] = None
    enabled_events: EventTypes = None
    description: Description = None
    disabled: Annotated[bool | None, Boolean()] = None
    metadata: Annotated[dict[str, str | None] | None, Metadata()] = None
    connect: Connect = None


class RollSecret(EndpointParams):
    previous_secret_expires_in: Annotated[
        int | None,
        Integer(minimum=0, maximum=OVERLAP_SECONDS),
        Field(
            description="Seconds the current secret keeps signing beside the new one (a "
            "second v1= in Stripe-Signature): 0 stops it at once, the default is "
            f"{OVERLAP_SECONDS} (a day, the most)."
        ),
    ] = None


def _changes(
    params: CreateWebhookEndpoint | UpdateWebhookEndpoint,
) -> service.EndpointChanges:
    return service.EndpointChanges(
        url=params.url,
        enabled_events=params.enabled_events,
        api_version=params.api_version if isinstance(params, CreateWebhookEndpoint) else None,
        description=params.description,
        disabled=params.disabled if isinstance(params, UpdateWebhookEndpoint) else None,
        metadata=params.metadata,
    )


@router.post("/v1/webhook_endpoints", CreateWebhookEndpoint)
def create_webhook_endpoint(call: ApiCall[CreateWebhookEndpoint]) -> dict[str, Any]:
    changes = _changes(call.params)
    endpoint, secret = service.create_endpoint(
        WebhookEndpointRepository(call.session, call.scope),
        call.runtime.secret_box,
        changes,
        allow_private=call.runtime.settings.webhook_allow_private_networks,
    )
    return render_webhook_endpoint(endpoint, secret=secret)


@router.get("/v1/webhook_endpoints/{id}", NoParams)
def retrieve_webhook_endpoint(call: ApiCall[NoParams]) -> dict[str, Any]:
    return render_webhook_endpoint(
        WebhookEndpointRepository(call.session, call.scope).get(call.path["id"])
    )


@router.post("/v1/webhook_endpoints/{id}", UpdateWebhookEndpoint)
def update_webhook_endpoint(call: ApiCall[UpdateWebhookEndpoint]) -> dict[str, Any]:
    changes = _changes(call.params)
    endpoint = service.update_endpoint(
        WebhookEndpointRepository(call.session, call.scope),
        call.path["id"],
        changes,
        allow_private=call.runtime.settings.webhook_allow_private_networks,
    )
    return render_webhook_endpoint(endpoint)


@router.post("/v1/webhook_endpoints/{id}/roll_secret", RollSecret)
def roll_webhook_endpoint_secret(call: ApiCall[RollSecret]) -> dict[str, Any]:
    """A Relink extension (Stripe rolls webhook secrets in its dashboard only). Replaces
    the endpoint's signing secret with a new one, returned in `secret` this once. Until
    `previous_secret_expires_in` has passed, deliveries are signed with both (two `v1=` in
    `Stripe-Signature`), so a receiver verifying with either accepts them; rolling again
    in that time stops the older secret at once."""
    expires_in = call.params.previous_secret_expires_in
    endpoint, secret = service.roll_secret(
        WebhookEndpointRepository(call.session, call.scope),
        call.path["id"],
        call.runtime.secret_box,
        overlap=dt.timedelta(seconds=OVERLAP_SECONDS if expires_in is None else expires_in),
    )
    return render_webhook_endpoint(endpoint, secret=secret)


@router.delete("/v1/webhook_endpoints/{id}", NoParams)
def delete_webhook_endpoint(call: ApiCall[NoParams]) -> dict[str, Any]:
    endpoint = service.delete_endpoint(
        WebhookEndpointRepository(call.session, call.scope), call.path["id"]
    )
    return render_deleted_webhook_endpoint(endpoint)


@router.get("/v1/webhook_endpoints", ListParams)
def list_webhook_endpoints(call: ApiCall[ListParams]) -> dict[str, Any]:
    cursor = call.params.cursor
    endpoints = WebhookEndpointRepository(call.session, call.scope)
    endpoints.check_cursor(cursor)
    page = endpoints.page(cursor)
    return render_list(
        "/v1/webhook_endpoints", [render_webhook_endpoint(e) for e in page.items], page.has_more
    )
