"""The outbox's store by itself: rows written, claimed with a lease, renewed, handed back
and finished, every write fenced by the claim's owner."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import and_, event, update
from sqlalchemy.orm import Session

from relink.kit.clock import FrozenClock
from relink.models import OutboxMessage, OutboxStatus
from relink.outbox import store
from relink.outbox.lease import Lease
from relink.runtime import Runtime
from tests.outbox.conftest import LEASE_SECONDS, add_row, row, row_by_key


def claim(runtime: Runtime, owner: str, lease: Lease, kind: str, **options: Any) -> list[str]:
    with runtime.database.unit_of_work() as session:
        claimed = store.claim(session, owner, lease=lease, limit=100, kinds={kind}, **options)
    return [message.id for message in claimed]


def test_enqueue_writes_a_pending_row_due_now(
    lease_runtime: Runtime, kind: str, frozen_clock: FrozenClock
) -> None:
    message_id = add_row(lease_runtime, kind, {"to": "holder"}, platform_id="plt_1", livemode=True)
    written = row(lease_runtime, message_id)
    assert (written.kind, written.payload, written.status, written.attempts) == (
        kind,
        {"to": "holder"},
        OutboxStatus.pending,
        0,
    )
    assert (written.platform_id, written.livemode) == ("plt_1", True)
    assert written.run_after == written.created_at == frozen_clock.at
    assert (written.locked_by, written.locked_until) == (None, None)


def test_a_second_enqueue_with_the_same_dedupe_key_writes_nothing(
    lease_runtime: Runtime, kind: str
) -> None:
    with lease_runtime.database.unit_of_work() as session:
        store.enqueue(session, kind, {"n": 1}, dedupe_key=f"{kind}:once")
        store.enqueue(session, kind, {"n": 2}, dedupe_key=f"{kind}:once")
    assert row_by_key(lease_runtime, f"{kind}:once").payload == {"n": 1}


def test_claim_leases_due_rows_to_the_owner_for_the_configured_lease(
    lease_runtime: Runtime, lease: Lease, kind: str, frozen_clock: FrozenClock
) -> None:
    message_id = add_row(lease_runtime, kind)
    assert claim(lease_runtime, "worker-a/1", lease, kind) == [message_id]
    claimed = row(lease_runtime, message_id)
    assert claimed.locked_by == "worker-a/1"
    assert claimed.locked_until == frozen_clock.at + dt.timedelta(seconds=LEASE_SECONDS)
    assert claimed.attempts == 1


def test_claim_takes_the_oldest_due_rows_first_up_to_its_limit(
    lease_runtime: Runtime, lease: Lease, kind: str, frozen_clock: FrozenClock
) -> None:
    later = add_row(lease_runtime, kind, run_after=frozen_clock.at - dt.timedelta(seconds=1))
    first = add_row(lease_runtime, kind, run_after=frozen_clock.at - dt.timedelta(seconds=2))
    with lease_runtime.database.unit_of_work() as session:
        claimed = store.claim(session, "worker-a/1", lease=lease, limit=1, kinds={kind})
    assert [m.id for m in claimed] == [first]
    assert claim(lease_runtime, "worker-a/2", lease, kind) == [later]


def test_claim_leaves_rows_not_yet_due(
    lease_runtime: Runtime, lease: Lease, kind: str, frozen_clock: FrozenClock
) -> None:
    add_row(lease_runtime, kind, run_after=frozen_clock.at + dt.timedelta(seconds=5))
    assert claim(lease_runtime, "worker-a/1", lease, kind) == []


def test_claim_leaves_rows_another_worker_holds(
    lease_runtime: Runtime, lease: Lease, kind: str, frozen_clock: FrozenClock
) -> None:
    add_row(lease_runtime, kind)
    claim(lease_runtime, "worker-a/1", lease, kind)
    frozen_clock.advance(seconds=LEASE_SECONDS - 1)
    assert claim(lease_runtime, "worker-b/1", lease, kind) == []


def test_a_lease_that_expires_is_reclaimed_by_another_worker(
    lease_runtime: Runtime, lease: Lease, kind: str, frozen_clock: FrozenClock
) -> None:
    message_id = add_row(lease_runtime, kind)
    claim(lease_runtime, "worker-a/1", lease, kind)
    frozen_clock.advance(seconds=LEASE_SECONDS + 1)
    assert claim(lease_runtime, "worker-b/1", lease, kind) == [message_id]
    with lease_runtime.database.unit_of_work() as session:
        # The first worker's claim no longer matches: it renews and finishes nothing.
        assert store.renew(session, [message_id], "worker-a/1", lease) == set()
        store.finish(session, [message_id], "worker-a/1")
    reclaimed = row(lease_runtime, message_id)
    assert (reclaimed.locked_by, reclaimed.status, reclaimed.attempts) == (
        "worker-b/1",
        OutboxStatus.pending,
        2,
    )


def test_claim_of_any_kind_takes_rows_of_every_kind(
    lease_runtime: Runtime, lease: Lease, kind: str
) -> None:
    message_id = add_row(lease_runtime, kind)
    with lease_runtime.database.read_only() as session:  # rolled back: others' rows stay
        claimed = store.claim(session, "worker-a/1", lease=lease, limit=10_000)
        assert message_id in {m.id for m in claimed}


def test_claim_leaves_the_rows_of_busy_lanes(
    lease_runtime: Runtime, lease: Lease, kind: str
) -> None:
    add_row(lease_runtime, kind, {"endpoint_id": "we_busy"})
    free = add_row(lease_runtime, kind, {"endpoint_id": "we_free"})
    busy_lanes = [(kind, "endpoint_id", {"we_busy"})]
    assert claim(lease_runtime, "worker-a/1", lease, kind, busy_lanes=busy_lanes) == [free]


def test_renew_extends_the_lease_by_the_configured_seconds_from_now(
    lease_runtime: Runtime, lease: Lease, kind: str, frozen_clock: FrozenClock
) -> None:
    message_id = add_row(lease_runtime, kind)
    claim(lease_runtime, "worker-a/1", lease, kind)
    renewed_at = frozen_clock.advance(seconds=LEASE_SECONDS - 5)
    with lease_runtime.database.unit_of_work() as session:
        assert store.renew(session, [message_id], "worker-a/1", lease) == {message_id}
    assert row(lease_runtime, message_id).locked_until == renewed_at + dt.timedelta(
        seconds=LEASE_SECONDS
    )


def test_a_lease_that_ran_out_untaken_is_still_its_owners_to_renew(
    lease_runtime: Runtime, lease: Lease, kind: str, frozen_clock: FrozenClock
) -> None:
    message_id = add_row(lease_runtime, kind)
    claim(lease_runtime, "worker-a/1", lease, kind)
    frozen_clock.advance(seconds=LEASE_SECONDS + 1)
    with lease_runtime.database.unit_of_work() as session:
        assert store.renew(session, [message_id], "worker-a/1", lease) == {message_id}


def test_still_held_lists_the_rows_the_claim_holds_only(
    lease_runtime: Runtime, lease: Lease, kind: str
) -> None:
    mine = add_row(lease_runtime, kind)
    claim(lease_runtime, "worker-a/1", lease, kind)
    theirs = add_row(lease_runtime, kind)
    claim(lease_runtime, "worker-b/1", lease, kind)
    with lease_runtime.database.unit_of_work() as session:
        assert store.still_held(session, [mine, theirs], "worker-a/1") == {mine}


def test_release_hands_a_row_back_unstarted_without_counting_the_attempt(
    lease_runtime: Runtime, lease: Lease, kind: str
) -> None:
    message_id = add_row(lease_runtime, kind)
    claim(lease_runtime, "worker-a/1", lease, kind)
    with lease_runtime.database.unit_of_work() as session:
        assert store.release(session, [message_id], "worker-a/1") == {message_id}
    released = row(lease_runtime, message_id)
    assert (released.locked_by, released.locked_until, released.attempts) == (None, None, 0)
    assert claim(lease_runtime, "worker-b/1", lease, kind) == [message_id]


def test_release_with_a_time_hands_a_row_back_to_run_then_uncounted(
    lease_runtime: Runtime, lease: Lease, kind: str, frozen_clock: FrozenClock
) -> None:
    message_id = add_row(lease_runtime, kind)
    claim(lease_runtime, "worker-a/1", lease, kind)
    later = frozen_clock.at + dt.timedelta(minutes=5)
    with lease_runtime.database.unit_of_work() as session:
        released = store.release(
            session, [message_id], "worker-a/1", run_after=later, reason="bank down"
        )
    assert released == {message_id}
    waiting = row(lease_runtime, message_id)
    assert (waiting.locked_by, waiting.attempts, waiting.run_after, waiting.last_error) == (
        None,
        0,
        later,
        "bank down",
    )
    assert claim(lease_runtime, "worker-b/1", lease, kind) == []
    frozen_clock.at = later
    assert claim(lease_runtime, "worker-b/1", lease, kind) == [message_id]


def test_wake_makes_waiting_rows_due_now_but_leaves_held_and_other_rows(
    lease_runtime: Runtime, lease: Lease, kind: str, frozen_clock: FrozenClock
) -> None:
    later = frozen_clock.at + dt.timedelta(hours=1)
    waiting = add_row(lease_runtime, kind, {"n": 1}, run_after=later)
    other = add_row(lease_runtime, kind, {"n": 2}, run_after=later)
    held = add_row(lease_runtime, kind, {"n": 1})
    claim(lease_runtime, "worker-a/1", lease, kind)
    with lease_runtime.database.unit_of_work() as session:
        session.execute(
            update(OutboxMessage).where(OutboxMessage.id == held).values(run_after=later)
        )
        picked = OutboxMessage.payload["n"].as_integer() == 1
        assert store.wake(session, and_(OutboxMessage.kind == kind, picked)) == 1
    assert row(lease_runtime, waiting).run_after == frozen_clock.at
    assert row(lease_runtime, other).run_after == later
    assert row(lease_runtime, held).run_after == later


def test_finish_marks_the_row_done(
    lease_runtime: Runtime, lease: Lease, kind: str, frozen_clock: FrozenClock
) -> None:
    message_id = add_row(lease_runtime, kind)
    claim(lease_runtime, "worker-a/1", lease, kind)
    with lease_runtime.database.unit_of_work() as session:
        store.finish(session, [message_id], "worker-a/1")
    finished = row(lease_runtime, message_id)
    assert (finished.status, finished.finished_at, finished.locked_until) == (
        OutboxStatus.done,
        frozen_clock.at,
        None,
    )


def _claimed(runtime: Runtime, lease: Lease, kind: str, owner: str = "worker-a/1") -> Any:
    message_id = add_row(runtime, kind)
    claim(runtime, owner, lease, kind)
    return row(runtime, message_id)


def test_a_failure_with_a_delay_runs_the_row_again_after_it(
    lease_runtime: Runtime, lease: Lease, kind: str, frozen_clock: FrozenClock
) -> None:
    message = _claimed(lease_runtime, lease, kind)
    failure = store.Failure(message, "try later", dead=False, delay=dt.timedelta(minutes=3))
    with lease_runtime.database.unit_of_work() as session:
        store.fail(session, [failure], "worker-a/1")
    failed = row(lease_runtime, message.id)
    assert (failed.status, failed.last_error, failed.locked_until, failed.finished_at) == (
        OutboxStatus.pending,
        "try later",
        None,
        None,
    )
    assert failed.run_after == frozen_clock.at + dt.timedelta(minutes=3)


def test_a_failure_without_a_delay_backs_off_from_the_rows_attempts(
    lease_runtime: Runtime, lease: Lease, kind: str, frozen_clock: FrozenClock
) -> None:
    message = _claimed(lease_runtime, lease, kind)
    with lease_runtime.database.unit_of_work() as session:
        store.fail(session, [store.Failure(message, "boom", dead=False)], "worker-a/1")
    # The first attempt's backoff: between half and all of the base delay (10 s).
    waited = row(lease_runtime, message.id).run_after - frozen_clock.at
    assert dt.timedelta(seconds=5) <= waited <= dt.timedelta(seconds=10)


def test_a_dead_failure_finishes_the_row_in_the_dead_letter_state(
    lease_runtime: Runtime, lease: Lease, kind: str, frozen_clock: FrozenClock
) -> None:
    message = _claimed(lease_runtime, lease, kind)
    with lease_runtime.database.unit_of_work() as session:
        store.fail(session, [store.Failure(message, "x" * 5000, dead=True)], "worker-a/1")
    dead = row(lease_runtime, message.id)
    assert (dead.status, dead.finished_at, dead.run_after) == (
        OutboxStatus.dead,
        frozen_clock.at,
        message.run_after,
    )
    assert dead.last_error == "x" * store.MAX_ERROR_LENGTH


def test_a_failure_is_written_once_by_the_claim_that_holds_the_row(
    lease_runtime: Runtime, lease: Lease, kind: str, frozen_clock: FrozenClock
) -> None:
    first = _claimed(lease_runtime, lease, kind)
    frozen_clock.advance(seconds=LEASE_SECONDS + 1)
    claim(lease_runtime, "worker-b/1", lease, kind)
    second = row(lease_runtime, first.id)
    with lease_runtime.database.unit_of_work() as session:
        store.fail(session, [store.Failure(first, "from a", dead=True)], "worker-a/1")
    with lease_runtime.database.unit_of_work() as session:
        store.fail(session, [store.Failure(second, "from b", dead=False)], "worker-b/1")
    failed = row(lease_runtime, first.id)
    # The claim that lost the row wrote nothing: what the row says is the holder's.
    assert (failed.status, failed.last_error, failed.attempts) == (
        OutboxStatus.pending,
        "from b",
        2,
    )


def test_many_failures_are_written_in_one_go(
    lease_runtime: Runtime, lease: Lease, kind: str
) -> None:
    retried, dead = (_claimed(lease_runtime, lease, kind) for _ in range(2))
    failures = [
        store.Failure(retried, "again", dead=False),
        store.Failure(dead, "never", dead=True),
    ]
    with lease_runtime.database.unit_of_work() as session:
        store.fail(session, failures, "worker-a/1")
    assert [
        (row(lease_runtime, m.id).status, row(lease_runtime, m.id).last_error)
        for m in (retried, dead)
    ] == [
        (OutboxStatus.pending, "again"),
        (OutboxStatus.dead, "never"),
    ]


@pytest.mark.parametrize(
    "write",
    [
        lambda session: store.enqueue_many(session, []),
        lambda session: store.renew(session, [], "worker-a/1", Lease(dt.timedelta(seconds=1))),
        lambda session: store.still_held(session, [], "worker-a/1"),
        lambda session: store.release(session, [], "worker-a/1"),
        lambda session: store.finish(session, [], "worker-a/1"),
        lambda session: store.fail(session, [], "worker-a/1"),
    ],
    ids=["enqueue_many", "renew", "still_held", "release", "finish", "fail"],
)
def test_a_write_of_no_rows_sends_no_statement(
    lease_runtime: Runtime, write: Callable[[Session], object]
) -> None:
    statements: list[str] = []
    with lease_runtime.database.read_only() as session:
        connection = session.connection()
        event.listen(connection, "before_cursor_execute", lambda *a: statements.append(a[2]))
        write(session)
    assert statements == []
