"""Scheduled scans take, renew and give up their lease with the outbox's lease helper."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from relink.config import Settings
from relink.kit import clock, ids
from relink.kit.clock import FrozenClock
from relink.lifecycle.tasks import claim_scan, finish_scan, renew_scan
from relink.models import ScheduledScan
from relink.outbox.lease import Lease
from relink.runtime import Runtime

LEASE_SECONDS = 45


@pytest.fixture
def lease(settings: Settings) -> Lease:
    return Lease.of(settings.model_copy(update={"outbox_lease_seconds": LEASE_SECONDS}))


@pytest.fixture
def frozen_clock() -> Iterator[FrozenClock]:
    frozen = FrozenClock(dt.datetime.now(dt.UTC).replace(microsecond=0))
    clock.set_now(frozen)
    yield frozen
    clock.reset()


@pytest.fixture
def scan() -> str:
    """A scan of the test's own."""
    return f"test_{ids.new('scan')}"


def _claim(runtime: Runtime, scan: str, worker_id: str, lease: Lease) -> bool:
    with runtime.database.unit_of_work() as session:
        return claim_scan(session, scan, worker_id, lease)


def _row(runtime: Runtime, scan: str) -> ScheduledScan:
    with runtime.database.read_only() as session:
        return session.scalars(select(ScheduledScan).where(ScheduledScan.name == scan)).one()


def test_a_due_scan_is_leased_for_the_outbox_lease_seconds(
    runtime: Runtime, lease: Lease, scan: str, frozen_clock: FrozenClock
) -> None:
    assert _claim(runtime, scan, "worker-a", lease)
    row = _row(runtime, scan)
    assert (row.locked_by, row.locked_until) == (
        "worker-a",
        frozen_clock.at + dt.timedelta(seconds=LEASE_SECONDS),
    )


def test_a_scan_another_worker_holds_is_taken_once_its_lease_ran_out(
    runtime: Runtime, lease: Lease, scan: str, frozen_clock: FrozenClock
) -> None:
    _claim(runtime, scan, "worker-a", lease)
    assert not _claim(runtime, scan, "worker-b", lease)
    frozen_clock.advance(seconds=LEASE_SECONDS + 1)
    assert _claim(runtime, scan, "worker-b", lease)
    assert _row(runtime, scan).locked_by == "worker-b"


def test_a_scan_is_not_claimed_before_its_next_run(
    runtime: Runtime, lease: Lease, scan: str, frozen_clock: FrozenClock
) -> None:
    _claim(runtime, scan, "worker-a", lease)
    with runtime.database.unit_of_work() as session:
        finish_scan(session, scan, "worker-a", frozen_clock.at + dt.timedelta(minutes=1))
    assert not _claim(runtime, scan, "worker-b", lease)
    frozen_clock.advance(minutes=1)
    assert _claim(runtime, scan, "worker-b", lease)


def test_renewing_a_scan_keeps_it_a_lease_ahead(
    runtime: Runtime, lease: Lease, scan: str, frozen_clock: FrozenClock
) -> None:
    _claim(runtime, scan, "worker-a", lease)
    later = frozen_clock.advance(seconds=LEASE_SECONDS - 1)
    with runtime.database.unit_of_work() as session:
        assert renew_scan(session, scan, "worker-a", lease)
    assert _row(runtime, scan).locked_until == later + dt.timedelta(seconds=LEASE_SECONDS)


def test_a_worker_whose_scan_was_taken_over_neither_renews_nor_finishes_it(
    runtime: Runtime, lease: Lease, scan: str, frozen_clock: FrozenClock
) -> None:
    _claim(runtime, scan, "worker-a", lease)
    frozen_clock.advance(seconds=LEASE_SECONDS + 1)
    _claim(runtime, scan, "worker-b", lease)
    with runtime.database.unit_of_work() as session:
        assert not renew_scan(session, scan, "worker-a", lease)
        finish_scan(session, scan, "worker-a", frozen_clock.at + dt.timedelta(minutes=1), "x")
    row = _row(runtime, scan)
    assert (row.locked_by, row.locked_until, row.last_finished_at, row.last_error) == (
        "worker-b",
        frozen_clock.at + dt.timedelta(seconds=LEASE_SECONDS),
        None,
        None,
    )


def test_finishing_a_scan_records_its_run_and_ends_its_lease(
    runtime: Runtime, lease: Lease, scan: str, frozen_clock: FrozenClock
) -> None:
    _claim(runtime, scan, "worker-a", lease)
    next_run = frozen_clock.at + dt.timedelta(minutes=1)
    with runtime.database.unit_of_work() as session:
        finish_scan(session, scan, "worker-a", next_run, "acme/test: boom")
    row = _row(runtime, scan)
    assert (row.next_run_at, row.last_finished_at, row.locked_until, row.last_error) == (
        next_run,
        frozen_clock.at,
        None,
        "acme/test: boom",
    )
