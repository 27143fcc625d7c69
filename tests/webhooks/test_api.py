from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import stripe

from relink.kit import clock
from relink.models import WebhookEndpoint
from relink.platforms.service import NewPlatform
from relink.runtime import Runtime
from tests.conftest import RunningServer, make_platform, stripe_client
from tests.factories import unchecked

ALL_TYPES_EXAMPLE = "financial_connections.account.created"
# A public address as a literal, so saving it needs no DNS and makes no traffic.
PUBLIC_URL = "https://93.184.216.34/hooks"


@pytest.fixture(scope="module")
def url_checker(runtime: Runtime) -> NewPlatform:
    """One platform for the URL guard's many cases: they assert on single answers only."""
    with runtime.database.unit_of_work() as session:
        return make_platform(session)


@pytest.fixture(scope="module")
def test_checker(server: RunningServer, url_checker: NewPlatform) -> stripe.StripeClient:
    return stripe_client(server, url_checker.test_secret_key)


@pytest.fixture(scope="module")
def live_checker(server: RunningServer, url_checker: NewPlatform) -> stripe.StripeClient:
    return stripe_client(server, url_checker.live_secret_key)


def _create(client: stripe.StripeClient, **params: Any) -> stripe.WebhookEndpoint:
    params.setdefault("url", "https://93.184.216.34/hooks")
    params.setdefault("enabled_events", [ALL_TYPES_EXAMPLE])
    return client.v1.webhook_endpoints.create(params=unchecked(params))


def _refused(client: stripe.StripeClient, **params: Any) -> stripe.InvalidRequestError:
    with pytest.raises(stripe.InvalidRequestError) as raised:
        _create(client, **params)
    return raised.value


def test_create_returns_the_endpoint_with_a_whsec_secret(client: stripe.StripeClient) -> None:
    endpoint = _create(client, description="Ledger sync", api_version="2025-03-31.basil")
    assert endpoint.id.startswith("we_")
    assert endpoint.object == "webhook_endpoint"
    assert endpoint.url == PUBLIC_URL
    assert endpoint.enabled_events == [ALL_TYPES_EXAMPLE]
    assert endpoint.description == "Ledger sync"
    assert endpoint.api_version == "2025-03-31.basil"
    assert endpoint.status == "enabled"
    assert endpoint.livemode is False
    assert endpoint.secret is not None and endpoint.secret.startswith("whsec_")


def test_retrieve_does_not_return_the_secret(client: stripe.StripeClient) -> None:
    created = _create(client)
    retrieved = client.v1.webhook_endpoints.retrieve(created.id)
    assert retrieved.id == created.id
    assert "secret" not in retrieved.to_dict()


def test_list_returns_endpoints_without_secrets(client: stripe.StripeClient) -> None:
    first = _create(client)
    second = _create(client, enabled_events=["*"])
    listed = client.v1.webhook_endpoints.list()
    assert [e.id for e in listed.data] == [second.id, first.id]
    assert all("secret" not in e.to_dict() for e in listed.data)


def test_update_changes_the_endpoint_without_returning_the_secret(
    client: stripe.StripeClient,
) -> None:
    created = _create(client)
    updated = client.v1.webhook_endpoints.update(
        created.id,
        params={
            "url": "https://93.184.216.35/other",
            "enabled_events": ["*"],
            "description": "changed",
            "disabled": True,
        },
    )
    assert updated.url == "https://93.184.216.35/other"
    assert updated.enabled_events == ["*"]
    assert updated.description == "changed"
    assert updated.status == "disabled"
    assert "secret" not in updated.to_dict()
    assert client.v1.webhook_endpoints.retrieve(created.id).status == "disabled"


def test_delete_answers_deleted(client: stripe.StripeClient) -> None:
    created = _create(client)
    deleted = client.v1.webhook_endpoints.delete(created.id)
    assert deleted.id == created.id
    assert deleted.deleted is True


def test_a_deleted_endpoint_is_resource_missing(client: stripe.StripeClient) -> None:
    created = _create(client)
    client.v1.webhook_endpoints.delete(created.id)
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.webhook_endpoints.retrieve(created.id)
    assert raised.value.http_status == 404
    assert raised.value.code == "resource_missing"
    assert raised.value.user_message == f"No such webhook_endpoint: '{created.id}'"


def test_a_deleted_endpoint_leaves_the_list_and_cannot_be_updated(
    client: stripe.StripeClient,
) -> None:
    created = _create(client)
    client.v1.webhook_endpoints.delete(created.id)
    assert client.v1.webhook_endpoints.list().data == []
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.webhook_endpoints.update(created.id, params={"description": "back"})
    assert raised.value.http_status == 404


def test_enabled_events_accepts_the_wildcard(client: stripe.StripeClient) -> None:
    assert _create(client, enabled_events=["*"]).enabled_events == ["*"]


def test_enabled_events_refuses_an_unknown_event_type(client: stripe.StripeClient) -> None:
    error = _refused(client, enabled_events=[ALL_TYPES_EXAMPLE, "charge.succeeded"])
    assert error.http_status == 400
    assert error.param == "enabled_events[1]"
    assert client.v1.webhook_endpoints.list().data == []


def test_enabled_events_is_required(client: stripe.StripeClient) -> None:
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.webhook_endpoints.create(params=unchecked({"url": PUBLIC_URL}))
    assert raised.value.code == "parameter_missing"
    assert raised.value.param == "enabled_events"


def test_live_mode_requires_https(live_client: stripe.StripeClient) -> None:
    error = _refused(live_client, url="http://93.184.216.34/hooks")
    assert error.http_status == 400
    assert error.code == "url_invalid"
    assert error.param == "url"


def test_live_mode_accepts_a_public_https_url(live_client: stripe.StripeClient) -> None:
    endpoint = _create(live_client)
    assert endpoint.livemode is True
    assert endpoint.url == PUBLIC_URL


# Every spelling of an address that is not public (resolved by the system resolver where
# it is not a literal IP address: ``2130706433`` and ``0x7f.1`` are 127.0.0.1 to it).
NOT_PUBLIC = [
    "http://localhost:8000/hooks",
    "http://127.0.0.1:8000/hooks",
    "http://[::1]/hooks",
    "http://2130706433/hooks",  # 127.0.0.1 as one number
    "http://0x7f.1/hooks",  # hex, with parts left out
    "http://127.1/hooks",
    "http://0177.0.0.1/hooks",  # octal
    "http://10.0.0.1/hooks",
    "http://167772161/hooks",  # 10.0.0.1 as one number
    "http://169.254.169.254/latest/meta-data",
    "http://192.168.1.1/hooks",
    "http://172.16.0.1/hooks",
    "http://100.100.100.200/latest/meta-data",  # shared address space (cloud metadata)
    "http://0.0.0.0/hooks",
    "http://224.0.0.1/hooks",  # multicast
    "http://240.0.0.1/hooks",  # reserved
    "http://255.255.255.255/hooks",
    "http://192.0.2.1/hooks",  # documentation
    "http://[::]/hooks",
    "http://[::ffff:10.0.0.1]/hooks",  # IPv4-mapped
    "http://[::ffff:127.0.0.1]/hooks",
    "http://[::127.0.0.1]/hooks",  # IPv4-compatible (deprecated)
    "http://[fd00::1]/hooks",  # unique local
    "http://[fe80::1]/hooks",  # link-local
    "http://[fe80::1%25eth0]/hooks",  # link-local with a zone
    "http://[fec0::1]/hooks",  # site-local (deprecated)
    "http://[ff02::1]/hooks",  # multicast
    "http://[2002:a00:1::]/hooks",  # 6to4 embedding 10.0.0.1
    "http://[2002:7f00:1::1]/hooks",  # 6to4 embedding 127.0.0.1
    "http://[64:ff9b::a9fe:a9fe]/hooks",  # NAT64 embedding 169.254.169.254
    "http://[64:ff9b:1::1]/hooks",  # local-use NAT64
    "http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/hooks",  # Teredo
]


@pytest.mark.parametrize("url", NOT_PUBLIC)
def test_a_url_resolving_to_an_address_that_is_not_public_is_refused_in_test_mode(
    test_checker: stripe.StripeClient, url: str
) -> None:
    error = _refused(test_checker, url=url)
    assert error.http_status == 400
    assert error.code == "url_invalid"
    assert error.param == "url"


@pytest.mark.parametrize("url", [u.replace("http://", "https://", 1) for u in NOT_PUBLIC])
def test_a_url_resolving_to_an_address_that_is_not_public_is_refused_in_live_mode(
    live_checker: stripe.StripeClient, url: str
) -> None:
    error = _refused(live_checker, url=url)
    assert error.code == "url_invalid"
    assert error.param == "url"


def test_a_test_key_cannot_register_loopback_in_production_either(
    client: stripe.StripeClient, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runtime.settings, "env", "production")
    assert _refused(client, url="http://127.0.0.1:8000/hooks").code == "url_invalid"
    assert client.v1.webhook_endpoints.list().data == []


@pytest.mark.parametrize(
    "url",
    [
        "https://[::ffff:93.184.216.34]/hooks",  # IPv4-mapped public address
        "https://[2002:5db8:d822::1]/hooks",  # 6to4 embedding 93.184.216.34
        "https://[64:ff9b::5db8:d822]/hooks",  # NAT64 embedding 93.184.216.34
        "https://[2606:4700::1111]/hooks",
    ],
)
def test_public_addresses_in_ipv6_spellings_are_accepted(
    live_checker: stripe.StripeClient, url: str
) -> None:
    assert _create(live_checker, url=url).url == url


def test_updating_to_a_private_address_is_refused_and_changes_nothing(
    client: stripe.StripeClient,
) -> None:
    created = _create(client)
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.webhook_endpoints.update(created.id, params={"url": "http://10.0.0.1/"})
    assert raised.value.code == "url_invalid"
    assert client.v1.webhook_endpoints.retrieve(created.id).url == PUBLIC_URL


@pytest.mark.usefixtures("private_webhooks")
@pytest.mark.parametrize(
    "url", ["http://localhost:8000/hooks", "http://127.0.0.1:8000/hooks", "https://10.0.0.1/x"]
)
def test_the_operators_opt_in_allows_private_and_loopback_addresses(
    client: stripe.StripeClient, live_client: stripe.StripeClient, url: str
) -> None:
    assert _create(client, url=url).url == url
    if url.startswith("https://"):
        assert _create(live_client, url=url).url == url


def test_a_url_with_credentials_is_refused(client: stripe.StripeClient) -> None:
    error = _refused(client, url="https://user:pass@93.184.216.34/hooks")
    assert error.code == "url_invalid"


def test_test_and_live_endpoints_do_not_mix(
    client: stripe.StripeClient, live_client: stripe.StripeClient
) -> None:
    live = _create(live_client)
    assert client.v1.webhook_endpoints.list().data == []
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.webhook_endpoints.retrieve(live.id)
    assert raised.value.http_status == 404


def _roll_secret(client: stripe.StripeClient, endpoint_id: str, **params: Any) -> Any:
    response = client.raw_request(
        "post", f"/v1/webhook_endpoints/{endpoint_id}/roll_secret", **params
    )
    return client.deserialize(response, api_mode="V1")


def _sealed_secrets(runtime: Runtime, endpoint_id: str) -> tuple[str, str | None, Any]:
    with runtime.database.read_only() as session:
        row = session.get(WebhookEndpoint, endpoint_id)
        assert row is not None
        box = runtime.secret_box
        previous = row.previous_secret_sealed
        return (
            box.open(row.secret_sealed)["secret"],
            None if previous is None else box.open(previous)["secret"],
            row.previous_secret_expires_at,
        )


def test_roll_secret_keeps_the_old_secret_for_a_day_by_default(
    client: stripe.StripeClient, runtime: Runtime
) -> None:
    endpoint = _create(client)
    before = clock.now()
    rolled = _roll_secret(client, endpoint.id)
    assert rolled.id == endpoint.id and rolled.url == PUBLIC_URL
    assert rolled.secret.startswith("whsec_") and rolled.secret != endpoint.secret
    current, previous, expires_at = _sealed_secrets(runtime, endpoint.id)
    assert (current, previous) == (rolled.secret, endpoint.secret)
    assert before + dt.timedelta(hours=24) <= expires_at <= clock.now() + dt.timedelta(hours=24)
    assert "secret" not in client.v1.webhook_endpoints.retrieve(endpoint.id).to_dict()


@pytest.mark.parametrize("expires_in", ["86401", "-1", "soon"])
def test_roll_secret_refuses_an_overlap_outside_zero_to_a_day_and_changes_nothing(
    client: stripe.StripeClient, runtime: Runtime, expires_in: str
) -> None:
    endpoint = _create(client)
    with pytest.raises(stripe.InvalidRequestError) as raised:
        _roll_secret(client, endpoint.id, previous_secret_expires_in=expires_in)
    assert raised.value.http_status == 400
    assert raised.value.param == "previous_secret_expires_in"
    assert _sealed_secrets(runtime, endpoint.id) == (endpoint.secret, None, None)


def test_roll_secret_of_an_endpoint_of_the_other_mode_is_resource_missing(
    client: stripe.StripeClient, live_client: stripe.StripeClient
) -> None:
    live = _create(live_client)
    with pytest.raises(stripe.InvalidRequestError) as raised:
        _roll_secret(client, live.id)
    assert raised.value.http_status == 404
    assert raised.value.code == "resource_missing"
