"""The webhook endpoint operations the API and the dashboard share, called directly: each
one acts on the repository's scope only, and an endpoint or event of another platform or
of the other mode is missing, as one that never existed."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from relink.events.service import emit
from relink.kit import clock, ids
from relink.kit.clock import FrozenClock
from relink.kit.errors import ResourceMissing
from relink.kit.provenance import EventContext
from relink.models import EndpointStatus, Event, EventType, OutboxMessage, WebhookEndpoint
from relink.runtime import Runtime
from relink.tenancy import Scope
from relink.webhooks import service
from relink.webhooks.repository import WebhookEndpointRepository
from tests.conftest import make_platform

# A public address as a literal, so saving it needs no DNS and makes no traffic.
PUBLIC_URL = "https://93.184.216.34/hooks"


@dataclass(frozen=True)
class Tenant:
    """One platform's test and live scopes."""

    test: Scope
    live: Scope


def _tenant(runtime: Runtime) -> Tenant:
    with runtime.database.unit_of_work() as session:
        platform_id = make_platform(session).platform.id
    return Tenant(Scope(platform_id, False), Scope(platform_id, True))


@pytest.fixture
def mine(runtime: Runtime) -> Tenant:
    return _tenant(runtime)


@pytest.fixture
def theirs(runtime: Runtime) -> Tenant:
    return _tenant(runtime)


@pytest.fixture
def frozen_clock() -> Iterator[FrozenClock]:
    frozen = FrozenClock(dt.datetime.now(dt.UTC).replace(microsecond=0))
    clock.set_now(frozen)
    yield frozen
    clock.reset()


def _endpoint(
    runtime: Runtime, scope: Scope, events: list[str] | None = None, *, disabled: bool = False
) -> str:
    with runtime.database.unit_of_work() as session:
        endpoint, _ = service.create_endpoint(
            WebhookEndpointRepository(session, scope),
            runtime.secret_box,
            service.EndpointChanges(
                url=PUBLIC_URL, enabled_events=events or ["*"], disabled=disabled
            ),
            allow_private=False,
        )
        return endpoint.id


def _event(runtime: Runtime, scope: Scope) -> str:
    with runtime.database.unit_of_work() as session:
        account = {"id": ids.new("fca"), "object": "financial_connections.account"}
        return emit(session, scope, EventType.account_disconnected, account, EventContext()).id


def _endpoints(session: Session, scope: Scope) -> WebhookEndpointRepository:
    return WebhookEndpointRepository(session, scope)


def _stored(runtime: Runtime, endpoint_id: str) -> WebhookEndpoint:
    with runtime.database.read_only() as session:
        endpoint = session.get(WebhookEndpoint, endpoint_id)
        assert endpoint is not None
        return endpoint


def _deliveries(runtime: Runtime, endpoint_id: str) -> list[OutboxMessage]:
    with runtime.database.read_only() as session:
        return [
            message
            for message in session.scalars(
                select(OutboxMessage)
                .where(
                    OutboxMessage.kind == service.WEBHOOK_DELIVERY,
                    OutboxMessage.dedupe_key.contains(endpoint_id, autoescape=True),
                )
                .order_by(OutboxMessage.id)
            )
            if message.payload["endpoint_id"] == endpoint_id
        ]


def _secret(runtime: Runtime, sealed: bytes | None) -> str:
    assert sealed is not None
    return str(runtime.secret_box.open(sealed)["secret"])


# -- delete ------------------------------------------------------------------------------


def test_delete_makes_the_endpoint_missing_and_keeps_its_row(
    runtime: Runtime, mine: Tenant
) -> None:
    endpoint_id = _endpoint(runtime, mine.test)
    with runtime.database.unit_of_work() as session:
        deleted = service.delete_endpoint(_endpoints(session, mine.test), endpoint_id)
        assert deleted.id == endpoint_id
    with runtime.database.read_only() as session:
        assert _endpoints(session, mine.test).find(endpoint_id) is None
    assert _stored(runtime, endpoint_id).deleted is True


def test_a_deleted_endpoint_cannot_be_deleted_again(runtime: Runtime, mine: Tenant) -> None:
    endpoint_id = _endpoint(runtime, mine.test)
    with runtime.database.unit_of_work() as session:
        service.delete_endpoint(_endpoints(session, mine.test), endpoint_id)
    with pytest.raises(ResourceMissing), runtime.database.unit_of_work() as session:
        service.delete_endpoint(_endpoints(session, mine.test), endpoint_id)


def test_a_platform_cannot_delete_another_platforms_endpoint(
    runtime: Runtime, mine: Tenant, theirs: Tenant
) -> None:
    endpoint_id = _endpoint(runtime, theirs.test)
    with pytest.raises(ResourceMissing) as raised, runtime.database.unit_of_work() as session:
        service.delete_endpoint(_endpoints(session, mine.test), endpoint_id)
    assert raised.value.message == f"No such webhook_endpoint: '{endpoint_id}'"
    assert _stored(runtime, endpoint_id).deleted is False


def test_test_mode_cannot_delete_a_live_endpoint_nor_live_a_test_one(
    runtime: Runtime, mine: Tenant
) -> None:
    live_id = _endpoint(runtime, mine.live)
    test_id = _endpoint(runtime, mine.test)
    for scope, endpoint_id in ((mine.test, live_id), (mine.live, test_id)):
        with pytest.raises(ResourceMissing), runtime.database.unit_of_work() as session:
            service.delete_endpoint(_endpoints(session, scope), endpoint_id)
    assert _stored(runtime, live_id).deleted is False
    assert _stored(runtime, test_id).deleted is False


# -- redeliver ---------------------------------------------------------------------------


def test_redeliver_queues_one_more_delivery_each_time(runtime: Runtime, mine: Tenant) -> None:
    endpoint_id = _endpoint(runtime, mine.test)
    event_id = _event(runtime, mine.test)
    for _ in range(2):
        with runtime.database.unit_of_work() as session:
            service.redeliver(_endpoints(session, mine.test), endpoint_id, event_id)
    deliveries = _deliveries(runtime, endpoint_id)
    assert [message.payload for message in deliveries] == [
        {"event_id": event_id, "endpoint_id": endpoint_id}
    ] * 3  # the delivery when the event was emitted, then the two resends
    assert {(m.platform_id, m.livemode) for m in deliveries} == {(mine.test.platform_id, False)}


def test_redelivery_to_a_disabled_endpoint_is_queued_and_waits_for_it_to_be_enabled(
    runtime: Runtime, mine: Tenant
) -> None:
    endpoint_id = _endpoint(runtime, mine.test, disabled=True)
    event_id = _event(runtime, mine.test)
    assert _deliveries(runtime, endpoint_id) == []  # not sent at emission while disabled
    with runtime.database.unit_of_work() as session:
        service.redeliver(_endpoints(session, mine.test), endpoint_id, event_id)
    assert len(_deliveries(runtime, endpoint_id)) == 1


def test_a_platform_cannot_redeliver_to_another_platforms_endpoint(
    runtime: Runtime, mine: Tenant, theirs: Tenant
) -> None:
    endpoint_id = _endpoint(runtime, theirs.test)
    event_id = _event(runtime, mine.test)
    before = len(_deliveries(runtime, endpoint_id))
    with pytest.raises(ResourceMissing) as raised, runtime.database.unit_of_work() as session:
        service.redeliver(_endpoints(session, mine.test), endpoint_id, event_id)
    assert raised.value.message == f"No such webhook_endpoint: '{endpoint_id}'"
    assert len(_deliveries(runtime, endpoint_id)) == before


def test_a_platform_cannot_redeliver_another_platforms_event(
    runtime: Runtime, mine: Tenant, theirs: Tenant
) -> None:
    endpoint_id = _endpoint(runtime, mine.test)
    event_id = _event(runtime, theirs.test)
    with pytest.raises(ResourceMissing) as raised, runtime.database.unit_of_work() as session:
        service.redeliver(_endpoints(session, mine.test), endpoint_id, event_id)
    assert raised.value.message == f"No such event: '{event_id}'"
    assert _deliveries(runtime, endpoint_id) == []


def test_an_event_of_one_mode_cannot_be_redelivered_to_an_endpoint_of_the_other(
    runtime: Runtime, mine: Tenant
) -> None:
    live_endpoint = _endpoint(runtime, mine.live)
    live_event = _event(runtime, mine.live)
    test_endpoint = _endpoint(runtime, mine.test)
    test_event = _event(runtime, mine.test)
    attempts = [
        (mine.test, live_endpoint, test_event),
        (mine.test, test_endpoint, live_event),
        (mine.live, test_endpoint, live_event),
        (mine.live, live_endpoint, test_event),
    ]
    for scope, endpoint_id, event_id in attempts:
        with pytest.raises(ResourceMissing), runtime.database.unit_of_work() as session:
            service.redeliver(_endpoints(session, scope), endpoint_id, event_id)
    assert [m.payload["event_id"] for m in _deliveries(runtime, live_endpoint)] == [live_event]
    assert [m.payload["event_id"] for m in _deliveries(runtime, test_endpoint)] == [test_event]


def test_a_deleted_endpoint_cannot_be_sent_a_redelivery(runtime: Runtime, mine: Tenant) -> None:
    endpoint_id = _endpoint(runtime, mine.test)
    event_id = _event(runtime, mine.test)
    with runtime.database.unit_of_work() as session:
        service.delete_endpoint(_endpoints(session, mine.test), endpoint_id)
    with pytest.raises(ResourceMissing), runtime.database.unit_of_work() as session:
        service.redeliver(_endpoints(session, mine.test), endpoint_id, event_id)
    assert len(_deliveries(runtime, endpoint_id)) == 1  # the one queued at emission


# -- emission ----------------------------------------------------------------------------


def test_an_event_is_queued_for_the_enabled_subscribed_endpoints_of_its_scope_only(
    runtime: Runtime, mine: Tenant, theirs: Tenant
) -> None:
    everything = _endpoint(runtime, mine.test)
    by_name = _endpoint(runtime, mine.test, [EventType.account_disconnected])
    other_type = _endpoint(runtime, mine.test, [EventType.account_created])
    disabled = _endpoint(runtime, mine.test, disabled=True)
    live = _endpoint(runtime, mine.live)
    other_platform = _endpoint(runtime, theirs.test)
    event_id = _event(runtime, mine.test)
    queued = {
        endpoint_id: [m.payload["event_id"] for m in _deliveries(runtime, endpoint_id)]
        for endpoint_id in (everything, by_name, other_type, disabled, live, other_platform)
    }
    assert queued == {
        everything: [event_id],
        by_name: [event_id],
        other_type: [],
        disabled: [],
        live: [],
        other_platform: [],
    }


def test_an_emitted_event_keeps_its_type_name(runtime: Runtime, mine: Tenant) -> None:
    event_id = _event(runtime, mine.test)
    with runtime.database.read_only() as session:
        event = session.get(Event, event_id)
    assert event is not None
    assert event.type == "financial_connections.account.disconnected"


# -- enable / disable --------------------------------------------------------------------


def test_enabling_an_endpoint_forgets_its_failures_so_far(
    runtime: Runtime, mine: Tenant, frozen_clock: FrozenClock
) -> None:
    endpoint_id = _endpoint(runtime, mine.test)
    with runtime.database.unit_of_work() as session:
        endpoint = service.set_endpoint_status(
            _endpoints(session, mine.test), endpoint_id, EndpointStatus.disabled
        )
        endpoint.failing_since = frozen_clock.at
    assert _stored(runtime, endpoint_id).status == "disabled"
    with runtime.database.unit_of_work() as session:
        service.set_endpoint_status(
            _endpoints(session, mine.test), endpoint_id, EndpointStatus.enabled
        )
    stored = _stored(runtime, endpoint_id)
    assert (stored.status, stored.failing_since) == ("enabled", None)


def test_a_platform_cannot_disable_another_platforms_endpoint(
    runtime: Runtime, mine: Tenant, theirs: Tenant
) -> None:
    endpoint_id = _endpoint(runtime, theirs.live)
    for scope in (mine.test, mine.live, theirs.test):
        with pytest.raises(ResourceMissing), runtime.database.unit_of_work() as session:
            service.set_endpoint_status(
                _endpoints(session, scope), endpoint_id, EndpointStatus.disabled
            )
    assert _stored(runtime, endpoint_id).status == "enabled"


# -- signing secrets ---------------------------------------------------------------------


def test_roll_secret_returns_a_new_secret_and_the_old_one_signs_for_the_overlap(
    runtime: Runtime, mine: Tenant, frozen_clock: FrozenClock
) -> None:
    endpoint_id = _endpoint(runtime, mine.test)
    old = _secret(runtime, _stored(runtime, endpoint_id).secret_sealed)
    with runtime.database.unit_of_work() as session:
        endpoint, new = service.roll_secret(
            _endpoints(session, mine.test),
            endpoint_id,
            runtime.secret_box,
            overlap=dt.timedelta(hours=2),
        )
        assert endpoint.id == endpoint_id
    stored = _stored(runtime, endpoint_id)
    assert new.startswith("whsec_") and new != old
    assert _secret(runtime, stored.secret_sealed) == new
    assert _secret(runtime, stored.previous_secret_sealed) == old
    assert stored.previous_secret_expires_at == frozen_clock.at + dt.timedelta(hours=2)
    assert service.signing_secrets(runtime.secret_box, stored) == [new, old]
    frozen_clock.advance(hours=2)
    assert service.signing_secrets(runtime.secret_box, stored) == [new]


def test_roll_secret_with_no_overlap_stops_the_old_secret_at_once(
    runtime: Runtime, mine: Tenant
) -> None:
    endpoint_id = _endpoint(runtime, mine.test)
    with runtime.database.unit_of_work() as session:
        _, new = service.roll_secret(
            _endpoints(session, mine.test), endpoint_id, runtime.secret_box, overlap=dt.timedelta()
        )
    stored = _stored(runtime, endpoint_id)
    assert (stored.previous_secret_sealed, stored.previous_secret_expires_at) == (None, None)
    assert service.signing_secrets(runtime.secret_box, stored) == [new]


def test_roll_secret_refuses_an_overlap_beyond_a_day_and_changes_nothing(
    runtime: Runtime, mine: Tenant
) -> None:
    endpoint_id = _endpoint(runtime, mine.test)
    sealed = _stored(runtime, endpoint_id).secret_sealed
    with pytest.raises(ValueError), runtime.database.unit_of_work() as session:
        service.roll_secret(
            _endpoints(session, mine.test),
            endpoint_id,
            runtime.secret_box,
            overlap=dt.timedelta(hours=24, seconds=1),
        )
    assert _stored(runtime, endpoint_id).secret_sealed == sealed


def test_a_platform_cannot_roll_or_reveal_another_platforms_secret(
    runtime: Runtime, mine: Tenant, theirs: Tenant
) -> None:
    endpoint_id = _endpoint(runtime, theirs.test)
    sealed = _stored(runtime, endpoint_id).secret_sealed
    with pytest.raises(ResourceMissing), runtime.database.unit_of_work() as session:
        service.roll_secret(_endpoints(session, mine.test), endpoint_id, runtime.secret_box)
    with pytest.raises(ResourceMissing), runtime.database.read_only() as session:
        service.reveal_secret(_endpoints(session, mine.test), endpoint_id, runtime.secret_box)
    stored = _stored(runtime, endpoint_id)
    assert (stored.secret_sealed, stored.previous_secret_sealed) == (sealed, None)


def test_the_other_mode_cannot_roll_or_reveal_an_endpoints_secret(
    runtime: Runtime, mine: Tenant
) -> None:
    endpoint_id = _endpoint(runtime, mine.live)
    sealed = _stored(runtime, endpoint_id).secret_sealed
    with pytest.raises(ResourceMissing), runtime.database.unit_of_work() as session:
        service.roll_secret(_endpoints(session, mine.test), endpoint_id, runtime.secret_box)
    with pytest.raises(ResourceMissing), runtime.database.read_only() as session:
        service.reveal_secret(_endpoints(session, mine.test), endpoint_id, runtime.secret_box)
    assert _stored(runtime, endpoint_id).secret_sealed == sealed


def test_reveal_secret_shows_the_current_secret(runtime: Runtime, mine: Tenant) -> None:
    endpoint_id = _endpoint(runtime, mine.test)
    with runtime.database.unit_of_work() as session:
        _, new = service.roll_secret(
            _endpoints(session, mine.test), endpoint_id, runtime.secret_box
        )
    with runtime.database.read_only() as session:
        revealed = service.reveal_secret(
            _endpoints(session, mine.test), endpoint_id, runtime.secret_box
        )
    assert revealed == new
