"""The one lease helper, on a table other than the outbox's (the scheduled scans)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from relink.kit import clock, ids
from relink.kit.clock import FrozenClock
from relink.models import ScheduledScan
from relink.outbox.lease import Lease, release
from relink.runtime import Runtime
from tests.outbox.conftest import LEASE_SECONDS


def _scan(runtime: Runtime, at: dt.datetime) -> str:
    name = f"test_{ids.new('scan')}"
    with runtime.database.unit_of_work() as session:
        session.add(ScheduledScan(name=name, next_run_at=at))
    return name


def _take(runtime: Runtime, lease: Lease, name: str, owner: str, *, again: bool = False) -> bool:
    with runtime.database.unit_of_work() as session:
        taken = session.execute(
            lease.take(ScheduledScan, owner, clock.now(), again=again).where(
                ScheduledScan.name == name
            )
        )
        return bool(taken.rowcount)  # type: ignore[attr-defined]


def _holder(runtime: Runtime, name: str) -> tuple[str | None, dt.datetime | None]:
    with runtime.database.read_only() as session:
        scan = session.scalars(select(ScheduledScan).where(ScheduledScan.name == name)).one()
        return scan.locked_by, scan.locked_until


def test_the_lease_lasts_the_configured_outbox_lease_seconds(lease: Lease) -> None:
    assert lease.duration == dt.timedelta(seconds=LEASE_SECONDS)


def test_a_free_row_is_taken_until_one_lease_ahead(
    lease_runtime: Runtime, lease: Lease, frozen_clock: FrozenClock
) -> None:
    name = _scan(lease_runtime, frozen_clock.at)
    assert _take(lease_runtime, lease, name, "worker-a")
    assert _holder(lease_runtime, name) == (
        "worker-a",
        frozen_clock.at + dt.timedelta(seconds=LEASE_SECONDS),
    )


def test_a_held_row_is_not_taken_by_another_until_its_lease_runs_out(
    lease_runtime: Runtime, lease: Lease, frozen_clock: FrozenClock
) -> None:
    name = _scan(lease_runtime, frozen_clock.at)
    _take(lease_runtime, lease, name, "worker-a")
    assert not _take(lease_runtime, lease, name, "worker-b")
    frozen_clock.advance(seconds=LEASE_SECONDS + 1)
    assert _take(lease_runtime, lease, name, "worker-b")
    assert _holder(lease_runtime, name)[0] == "worker-b"


def test_its_owner_takes_a_held_row_again_when_asked_to(
    lease_runtime: Runtime, lease: Lease, frozen_clock: FrozenClock
) -> None:
    name = _scan(lease_runtime, frozen_clock.at)
    _take(lease_runtime, lease, name, "worker-a")
    assert not _take(lease_runtime, lease, name, "worker-a")
    later = frozen_clock.advance(seconds=5)
    assert _take(lease_runtime, lease, name, "worker-a", again=True)
    assert _holder(lease_runtime, name) == (
        "worker-a",
        later + dt.timedelta(seconds=LEASE_SECONDS),
    )


def test_renew_pushes_the_owners_deadline_and_nobody_elses(
    lease_runtime: Runtime, lease: Lease, frozen_clock: FrozenClock
) -> None:
    name = _scan(lease_runtime, frozen_clock.at)
    _take(lease_runtime, lease, name, "worker-a")
    later = frozen_clock.advance(seconds=20)
    with lease_runtime.database.unit_of_work() as session:
        theirs = session.execute(
            lease.renew(ScheduledScan, "worker-b", later).where(ScheduledScan.name == name)
        )
        mine = session.execute(
            lease.renew(ScheduledScan, "worker-a", later).where(ScheduledScan.name == name)
        )
    assert (theirs.rowcount, mine.rowcount) == (0, 1)  # type: ignore[attr-defined]
    assert _holder(lease_runtime, name)[1] == later + dt.timedelta(seconds=LEASE_SECONDS)


def test_release_frees_the_owners_row_at_once(
    lease_runtime: Runtime, lease: Lease, frozen_clock: FrozenClock
) -> None:
    name = _scan(lease_runtime, frozen_clock.at)
    _take(lease_runtime, lease, name, "worker-a")
    with lease_runtime.database.unit_of_work() as session:
        session.execute(release(ScheduledScan, "worker-b").where(ScheduledScan.name == name))
    assert _holder(lease_runtime, name)[0] == "worker-a"
    with lease_runtime.database.unit_of_work() as session:
        session.execute(release(ScheduledScan, "worker-a").where(ScheduledScan.name == name))
    assert _holder(lease_runtime, name) == (None, None)
    assert _take(lease_runtime, lease, name, "worker-b")
