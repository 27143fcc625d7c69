"""Outbox depth and age, as ``/metrics`` reports them."""

from __future__ import annotations

from relink.kit.clock import FrozenClock
from relink.outbox.lease import Lease
from relink.outbox.stats import outbox_stats
from relink.outbox.store import Failure, claim, fail
from relink.runtime import Runtime
from tests.outbox.conftest import add_row


def test_stats_count_pending_and_dead_rows_with_the_age_of_the_oldest(
    lease_runtime: Runtime, lease: Lease, kind: str, frozen_clock: FrozenClock
) -> None:
    add_row(lease_runtime, kind)
    frozen_clock.advance(seconds=30)
    add_row(lease_runtime, kind)
    add_row(lease_runtime, kind)
    with lease_runtime.database.unit_of_work() as session:
        claim(session, "worker-a/1", lease=lease, limit=1, kinds={kind})
    with lease_runtime.database.unit_of_work() as session:
        [first] = claim(session, "worker-a/2", lease=lease, limit=1, kinds={kind})
        fail(session, [Failure(first, "never", dead=True)], "worker-a/2")
    frozen_clock.advance(seconds=15)
    stats = {(k, s): (n, age) for k, s, n, age in outbox_stats(lease_runtime) if k == kind}
    assert stats == {(kind, "pending"): (2, 45.0), (kind, "dead"): (1, 15.0)}
