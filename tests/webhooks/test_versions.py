"""Webhook events are rendered at the endpoint's api_version, else at the platform's
default version, whoever caused them (an API client at another version, the worker)."""

from __future__ import annotations

import json
from typing import Final

import pytest
import stripe

from relink.kit.api_versions import API_VERSIONS, LATEST_API_VERSION
from relink.models import Platform
from relink.outbox.dispatcher import OutboxDispatcher
from relink.platforms.service import NewPlatform
from relink.runtime import Runtime
from relink.worker import HANDLERS
from tests.conftest import RunningServer
from tests.dashboard.factories import broken_account
from tests.factories import create_customer, create_test_account, unchecked
from tests.receivers import Receiver, webhook_receiver

PINNED: Final = "2025-03-31.basil"
PLATFORM_DEFAULT = "2025-06-30.basil"


def _set_platform_default(runtime: Runtime, platform: NewPlatform, version: str) -> None:
    with runtime.database.unit_of_work() as session:
        row = session.get(Platform, platform.platform.id)
        assert row is not None
        row.default_api_version = version


def _events_from_everywhere(
    client: stripe.StripeClient, runtime: Runtime, platform: NewPlatform
) -> None:
    """Events caused by the API client (at its SDK's Stripe-Version) and by the worker
    (a balance refresh, whose job carries no version at all)."""
    customer = create_customer(client, email=platform.owner.email)
    account = create_test_account(client, customer=customer.id, institution="fcinst_test_oauth")
    client.v1.financial_connections.accounts.refresh(account.id, params={"features": ["balance"]})
    broken_account(client, platform.owner.email)
    OutboxDispatcher(runtime, HANDLERS).drain()


def _versions(receiver: Receiver) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for delivery in receiver.deliveries:
        event = json.loads(delivery.body)
        found.setdefault(event["type"], set()).add(event["api_version"])
    return found


@pytest.mark.usefixtures("private_webhooks")
def test_an_endpoint_with_an_api_version_gets_every_event_at_that_version(
    server: RunningServer,
    client: stripe.StripeClient,
    runtime: Runtime,
    platform: NewPlatform,
) -> None:
    assert stripe.api_version != PINNED  # the SDK asks for another version
    with webhook_receiver() as receiver:
        client.v1.webhook_endpoints.create(
            params={"url": receiver.url, "enabled_events": ["*"], "api_version": PINNED}
        )
        _events_from_everywhere(client, runtime, platform)
    versions = _versions(receiver)
    assert {
        "financial_connections.account.created",
        "financial_connections.account.refreshed_balance",
        "financial_connections.account.deactivated",
    } <= set(versions)
    assert set().union(*versions.values()) == {PINNED}


@pytest.mark.usefixtures("private_webhooks")
def test_an_endpoint_without_an_api_version_gets_every_event_at_the_platforms_default(
    server: RunningServer,
    client: stripe.StripeClient,
    runtime: Runtime,
    platform: NewPlatform,
) -> None:
    _set_platform_default(runtime, platform, PLATFORM_DEFAULT)
    with webhook_receiver() as receiver:
        endpoint = client.v1.webhook_endpoints.create(
            params={"url": receiver.url, "enabled_events": ["*"]}
        )
        assert endpoint.api_version is None
        _events_from_everywhere(client, runtime, platform)
    versions = _versions(receiver)
    assert "financial_connections.account.refreshed_balance" in versions
    assert set().union(*versions.values()) == {PLATFORM_DEFAULT}
    assert {e.api_version for e in client.v1.events.list().data} == {PLATFORM_DEFAULT}


def test_a_new_platform_defaults_to_the_newest_version_relink_knows(
    runtime: Runtime, platform: NewPlatform
) -> None:
    with runtime.database.read_only() as session:
        row = session.get(Platform, platform.platform.id)
        assert row is not None
        assert row.default_api_version == LATEST_API_VERSION == API_VERSIONS[-1]


def test_an_unknown_endpoint_api_version_is_refused(client: stripe.StripeClient) -> None:
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.webhook_endpoints.create(
            params=unchecked(
                {
                    "url": "https://93.184.216.34/hooks",
                    "enabled_events": ["*"],
                    "api_version": "2099-01-01.future",
                }
            )
        )
    assert raised.value.http_status == 400
    assert raised.value.param == "api_version"
    assert client.v1.webhook_endpoints.list().data == []


def test_an_endpoints_api_version_cannot_be_changed_by_an_update(
    client: stripe.StripeClient,
) -> None:
    endpoint = client.v1.webhook_endpoints.create(
        params={
            "url": "https://93.184.216.34/hooks",
            "enabled_events": ["*"],
            "api_version": PINNED,
        }
    )
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.webhook_endpoints.update(
            endpoint.id,
            params=unchecked({"api_version": "2025-06-30.basil"}),
        )
    assert raised.value.code == "parameter_unknown"
    assert client.v1.webhook_endpoints.retrieve(endpoint.id).api_version == PINNED
