"""Creating and changing webhook endpoints."""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass

from relink.events.repository import WebhookEndpointRepository
from relink.kit import ids
from relink.kit.api_versions import API_VERSIONS, is_known_api_version
from relink.kit.crypto import SecretBox
from relink.kit.errors import ApiError, InvalidEnum
from relink.kit.metadata import merge_metadata
from relink.models import WebhookEndpoint
from relink.webhooks.urls import UnsafeUrl, check_webhook_url

# Every event type Relink emits; "*" subscribes to all.
EVENT_TYPES: tuple[str, ...] = (
    "financial_connections.account.created",
    "financial_connections.account.deactivated",
    "financial_connections.account.disconnected",
    "financial_connections.account.reactivated",
    "financial_connections.account.refreshed_balance",
    "financial_connections.account.refreshed_ownership",
    "financial_connections.account.refreshed_transactions",
    "financial_connections.account.refreshed_inferred_balances",
    "financial_connections.account.account_numbers_updated",
    "financial_connections.account.upcoming_account_number_expiry",
    "financial_connections.account.expected_deactivation_date_updated",
    "financial_connections.account.upcoming_deactivation",
    "financial_connections.authorization.expected_deactivation_date_updated",
    "financial_connections.authorization.upcoming_deactivation",
    "financial_connections.session.updated",
)


@dataclass
class EndpointChanges:
    url: str | None = None
    enabled_events: list[str] | None = None
    api_version: str | None = None
    description: str | None = None
    disabled: bool | None = None
    metadata: dict[str, str | None] | None = None


def new_webhook_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


def _validate(changes: EndpointChanges, livemode: bool, allow_private: bool) -> None:
    if changes.url is not None:
        try:
            check_webhook_url(changes.url, livemode=livemode, allow_private=allow_private)
        except UnsafeUrl as error:
            raise ApiError(str(error), param="url", code="url_invalid") from None
    if changes.api_version is not None and not is_known_api_version(changes.api_version):
        raise InvalidEnum("api_version", changes.api_version, API_VERSIONS)
    if changes.enabled_events is not None:
        if not changes.enabled_events:
            raise ApiError("enabled_events must not be empty.", param="enabled_events")
        for index, event_type in enumerate(changes.enabled_events):
            if event_type != "*" and event_type not in EVENT_TYPES:
                raise InvalidEnum(f"enabled_events[{index}]", event_type, ("*", *EVENT_TYPES))


def create_endpoint(
    endpoints: WebhookEndpointRepository,
    box: SecretBox,
    changes: EndpointChanges,
    *,
    allow_private: bool,
) -> tuple[WebhookEndpoint, str]:
    _validate(changes, endpoints.scope.livemode, allow_private)
    secret = new_webhook_secret()
    endpoint = WebhookEndpoint(
        id=ids.new("we"),
        url=changes.url or "",
        description=changes.description,
        enabled_events=changes.enabled_events or [],
        api_version=changes.api_version,
        status="disabled" if changes.disabled else "enabled",
        metadata_=merge_metadata({}, changes.metadata),
        secret_sealed=box.seal({"secret": secret}),
        created_at=endpoints.scope.now(),
    )
    endpoints.add(endpoint)
    endpoints.session.flush()
    return endpoint, secret


def update_endpoint(
    endpoint: WebhookEndpoint, changes: EndpointChanges, *, livemode: bool, allow_private: bool
) -> WebhookEndpoint:
    _validate(changes, livemode, allow_private)
    if changes.url is not None:
        endpoint.url = changes.url
    if changes.enabled_events is not None:
        endpoint.enabled_events = changes.enabled_events
    if changes.description is not None:
        endpoint.description = changes.description or None
    if changes.disabled is not None:
        endpoint.status = "disabled" if changes.disabled else "enabled"
        if not changes.disabled:
            endpoint.failing_since = None
    endpoint.metadata_ = merge_metadata(endpoint.metadata_, changes.metadata)
    return endpoint


# How long a rolled secret keeps signing beside the new one: a day at most, as in
# Stripe's dashboard; a day unless asked otherwise, so no receiver drops an event.
MAX_SECRET_OVERLAP = dt.timedelta(hours=24)


def roll_secret(
    endpoint: WebhookEndpoint,
    box: SecretBox,
    *,
    now: dt.datetime,
    overlap: dt.timedelta = MAX_SECRET_OVERLAP,
) -> str:
    """Give the endpoint a new signing secret. The current one keeps signing (a second
    ``v1=``) for ``overlap`` so receivers can switch without dropping events, or stops at
    once when ``overlap`` is zero; a secret rolled before that is dropped now."""
    if not dt.timedelta(0) <= overlap <= MAX_SECRET_OVERLAP:
        raise ValueError("the overlap is between zero and a day")
    secret = new_webhook_secret()
    if overlap:
        endpoint.previous_secret_sealed = endpoint.secret_sealed
        endpoint.previous_secret_expires_at = now + overlap
    else:
        endpoint.previous_secret_sealed = None
        endpoint.previous_secret_expires_at = None
    endpoint.secret_sealed = box.seal({"secret": secret})
    return secret
