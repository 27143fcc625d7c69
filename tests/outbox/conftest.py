"""The outbox's own tests: rows of a kind of each test's own, so tests sharing a
database never claim each other's rows, and a lease shorter than the default so a test
can tell the configured lease from the default one."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from relink.config import Settings
from relink.kit import clock, ids
from relink.kit.clock import FrozenClock
from relink.models import OutboxMessage
from relink.outbox.lease import Lease
from relink.outbox.store import enqueue
from relink.runtime import Runtime

LEASE_SECONDS = 30


@pytest.fixture
def lease_runtime(settings: Settings) -> Iterator[Runtime]:
    """A runtime on the test database whose outbox lease is ``LEASE_SECONDS``."""
    runtime = Runtime.from_settings(
        settings.model_copy(update={"outbox_lease_seconds": LEASE_SECONDS})
    )
    yield runtime
    runtime.database.engine.dispose()


@pytest.fixture
def lease(lease_runtime: Runtime) -> Lease:
    return Lease.of(lease_runtime.settings)


@pytest.fixture
def frozen_clock() -> Iterator[FrozenClock]:
    frozen = FrozenClock(dt.datetime.now(dt.UTC).replace(microsecond=0))
    clock.set_now(frozen)
    yield frozen
    clock.reset()


@pytest.fixture
def kind() -> str:
    """An outbox kind no other test writes."""
    return f"test.{ids.new('k')}"


def add_row(
    runtime: Runtime, kind: str, payload: dict[str, Any] | None = None, **options: Any
) -> str:
    """Enqueue one row of ``kind`` and return its id."""
    dedupe_key = ids.new("dk")
    with runtime.database.unit_of_work() as session:
        enqueue(session, kind, payload or {}, dedupe_key=dedupe_key, **options)
    return row_by_key(runtime, dedupe_key).id


def row_by_key(runtime: Runtime, dedupe_key: str) -> OutboxMessage:
    with runtime.database.read_only() as session:
        return session.scalars(
            select(OutboxMessage).where(OutboxMessage.dedupe_key == dedupe_key)
        ).one()


def row(runtime: Runtime, message_id: str) -> OutboxMessage:
    with runtime.database.read_only() as session:
        found = session.get(OutboxMessage, message_id)
        assert found is not None
        return found
