"""Webhook endpoints: creating, changing and deleting them, rolling their signing secret,
and queueing deliveries of events to them.

Every operation on an existing endpoint starts from a :class:`WebhookEndpointRepository`
of one ``(platform, livemode)``: an endpoint (or event) of another platform or mode is
:class:`ResourceMissing`, as one that never existed.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass

from sqlalchemy.orm import Session

from relink.events.repository import EventRepository
from relink.kit import clock, ids
from relink.kit.api_versions import API_VERSIONS, is_known_api_version
from relink.kit.crypto import SecretBox
from relink.kit.errors import ApiError, InvalidEnum
from relink.kit.metadata import merge_metadata
from relink.models import EndpointStatus, Event, EventType, WebhookEndpoint
from relink.outbox.store import enqueue
from relink.tenancy import Scope
from relink.webhooks.repository import ALL_EVENTS, WebhookEndpointRepository
from relink.webhooks.urls import UnsafeUrl, check_webhook_url

# The outbox kind of one delivery of one event to one endpoint (webhooks.tasks sends it).
WEBHOOK_DELIVERY = "webhook.deliver"
_EVENT_TYPES = frozenset(EventType)


def known_event_type(value: str) -> bool:
    """Whether ``value`` names an :class:`EventType` (``enabled_events`` may also hold
    :data:`ALL_EVENTS`)."""
    return value in _EVENT_TYPES


@dataclass
class EndpointChanges:
    url: str | None = None
    enabled_events: list[str] | None = None
    api_version: str | None = None
    description: str | None = None
    disabled: bool | None = None
    metadata: dict[str, str | None] | None = None


class UrlRefused(ApiError):
    """An endpoint URL refused by :func:`check_webhook_url`; the wire says the English
    message, and ``unsafe`` keeps which rule it broke (for the dashboard's words)."""

    code = "url_invalid"

    def __init__(self, unsafe: UnsafeUrl) -> None:
        super().__init__(str(unsafe), param="url")
        self.unsafe = unsafe


def new_webhook_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


def _validate(changes: EndpointChanges, livemode: bool, allow_private: bool) -> None:
    if changes.url is not None:
        try:
            check_webhook_url(changes.url, livemode=livemode, allow_private=allow_private)
        except UnsafeUrl as error:
            raise UrlRefused(error) from None
    if changes.api_version is not None and not is_known_api_version(changes.api_version):
        raise InvalidEnum("api_version", changes.api_version, API_VERSIONS)
    if changes.enabled_events is not None:
        if not changes.enabled_events:
            raise ApiError("enabled_events must not be empty.", param="enabled_events")
        for index, event_type in enumerate(changes.enabled_events):
            if event_type != ALL_EVENTS and not known_event_type(event_type):
                raise InvalidEnum(f"enabled_events[{index}]", event_type, (ALL_EVENTS, *EventType))


def _status(disabled: bool | None) -> EndpointStatus:
    return EndpointStatus.disabled if disabled else EndpointStatus.enabled


def create_endpoint(
    endpoints: WebhookEndpointRepository,
    box: SecretBox,
    changes: EndpointChanges,
    *,
    allow_private: bool,
) -> tuple[WebhookEndpoint, str]:
    """The new endpoint and its signing secret (the one time the secret is returned)."""
    _validate(changes, endpoints.scope.livemode, allow_private)
    secret = new_webhook_secret()
    endpoint = WebhookEndpoint(
        id=ids.new("we"),
        url=changes.url or "",
        description=changes.description,
        enabled_events=changes.enabled_events or [],
        api_version=changes.api_version,
        status=_status(changes.disabled),
        metadata_=merge_metadata({}, changes.metadata),
        secret_sealed=box.seal({"secret": secret}),
        created_at=endpoints.scope.now(),
    )
    endpoints.add(endpoint)
    endpoints.session.flush()
    return endpoint, secret


def _set_status(endpoint: WebhookEndpoint, status: EndpointStatus) -> None:
    endpoint.status = status
    if status == EndpointStatus.enabled:
        # Enabled again by its platform: its failures so far no longer count towards
        # Relink disabling it.
        endpoint.failing_since = None


def update_endpoint(
    endpoints: WebhookEndpointRepository,
    endpoint_id: str,
    changes: EndpointChanges,
    *,
    allow_private: bool,
) -> WebhookEndpoint:
    endpoint = endpoints.get(endpoint_id)
    _validate(changes, endpoints.scope.livemode, allow_private)
    if changes.url is not None:
        endpoint.url = changes.url
    if changes.enabled_events is not None:
        endpoint.enabled_events = changes.enabled_events
    if changes.description is not None:
        endpoint.description = changes.description or None
    if changes.disabled is not None:
        _set_status(endpoint, _status(changes.disabled))
    endpoint.metadata_ = merge_metadata(endpoint.metadata_, changes.metadata)
    return endpoint


def set_endpoint_status(
    endpoints: WebhookEndpointRepository, endpoint_id: str, status: EndpointStatus
) -> WebhookEndpoint:
    """Enable or disable the endpoint (a disabled one is sent nothing, resends included)."""
    endpoint = endpoints.get(endpoint_id)
    _set_status(endpoint, status)
    return endpoint


def delete_endpoint(endpoints: WebhookEndpointRepository, endpoint_id: str) -> WebhookEndpoint:
    """Delete the endpoint: it is missing from then on, and its queued deliveries are
    dropped when their turn comes. The row stays, for the attempt log of its events."""
    endpoint = endpoints.get(endpoint_id)
    endpoint.deleted = True
    return endpoint


# -- signing secrets ---------------------------------------------------------------------

# How long a rolled secret keeps signing beside the new one: a day at most, as in
# Stripe's dashboard; a day unless asked otherwise, so no receiver drops an event.
MAX_SECRET_OVERLAP = dt.timedelta(hours=24)


def roll_secret(
    endpoints: WebhookEndpointRepository,
    endpoint_id: str,
    box: SecretBox,
    *,
    overlap: dt.timedelta = MAX_SECRET_OVERLAP,
) -> tuple[WebhookEndpoint, str]:
    """Give the endpoint a new signing secret, returned with it. The current one keeps
    signing (a second ``v1=``) for ``overlap`` so receivers can switch without dropping
    events, or stops at once when ``overlap`` is zero; a secret rolled before that is
    dropped now."""
    if not dt.timedelta(0) <= overlap <= MAX_SECRET_OVERLAP:
        raise ValueError("the overlap is between zero and a day")
    endpoint = endpoints.get(endpoint_id)
    secret = new_webhook_secret()
    if overlap:
        endpoint.previous_secret_sealed = endpoint.secret_sealed
        # Real time, not the sandbox clock: the receivers that verify are real.
        endpoint.previous_secret_expires_at = clock.now() + overlap
    else:
        endpoint.previous_secret_sealed = None
        endpoint.previous_secret_expires_at = None
    endpoint.secret_sealed = box.seal({"secret": secret})
    return endpoint, secret


def signing_secret(box: SecretBox, endpoint: WebhookEndpoint) -> str:
    """The endpoint's current signing secret, in plain."""
    return str(box.open(endpoint.secret_sealed)["secret"])


def reveal_secret(endpoints: WebhookEndpointRepository, endpoint_id: str, box: SecretBox) -> str:
    return signing_secret(box, endpoints.get(endpoint_id))


def signing_secrets(box: SecretBox, endpoint: WebhookEndpoint) -> list[str]:
    """The secrets a delivery is signed with now: the current one, and the rolled one
    while its overlap lasts."""
    active = [signing_secret(box, endpoint)]
    if (
        endpoint.previous_secret_sealed is not None
        and endpoint.previous_secret_expires_at is not None
        and endpoint.previous_secret_expires_at > clock.now()
    ):
        active.append(str(box.open(endpoint.previous_secret_sealed)["secret"]))
    return active


# -- deliveries --------------------------------------------------------------------------


def _queue_delivery(
    session: Session, scope: Scope, event: Event, endpoint: WebhookEndpoint, dedupe_key: str
) -> None:
    enqueue(
        session,
        WEBHOOK_DELIVERY,
        {"event_id": event.id, "endpoint_id": endpoint.id},
        dedupe_key=dedupe_key,
        platform_id=scope.platform_id,
        livemode=scope.livemode,
    )


def queue_deliveries(session: Session, scope: Scope, event: Event) -> None:
    """One delivery of a new event to each enabled endpoint subscribed to its type, in
    the transaction that emits it."""
    for endpoint in WebhookEndpointRepository(session, scope).subscribed_to(EventType(event.type)):
        _queue_delivery(session, scope, event, endpoint, f"webhook:{event.id}:{endpoint.id}")


def redeliver(endpoints: WebhookEndpointRepository, endpoint_id: str, event_id: str) -> None:
    """Queue one more delivery of the event to the endpoint, both of the repository's
    scope: a fresh dedupe key, so it is a new outbox row even though the event was
    delivered before. A disabled endpoint is sent it only if enabled before its turn."""
    endpoint = endpoints.get(endpoint_id)
    event = EventRepository(endpoints.session, endpoints.scope).get(event_id, param="event")
    _queue_delivery(
        endpoints.session,
        endpoints.scope,
        event,
        endpoint,
        f"webhook:{event.id}:{endpoint.id}:resend:{ids.new('resend')}",
    )
