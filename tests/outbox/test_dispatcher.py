"""The dispatcher by itself, with handlers of the tests' own: what it records for each
outcome, batches and lanes, handing rows back, and keeping its leases alive."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pytest
import structlog
from sqlalchemy.orm import Session

from relink.db import Database, make_engine
from relink.kit.clock import FrozenClock
from relink.models import OutboxMessage, OutboxStatus
from relink.outbox import store
from relink.outbox.dispatcher import Leases, OutboxDispatcher
from relink.outbox.handlers import (
    Batched,
    BatchResult,
    GiveUp,
    Handler,
    Job,
    Laned,
    Outcome,
    Postponed,
    RetryLater,
    Withheld,
)
from relink.outbox.lease import Lease
from relink.runtime import Runtime
from tests.outbox.conftest import LEASE_SECONDS, add_row, row

# Long enough for anything a test waits for; a test that needs it has failed.
PATIENCE = 30.0


def wait_until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + PATIENCE
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("the condition never came true")
        time.sleep(0.01)


@pytest.fixture
def dispatchers(lease_runtime: Runtime) -> Iterator[Callable[..., OutboxDispatcher]]:
    """Make dispatchers on the test's runtime; their lanes are closed after the test."""
    made: list[OutboxDispatcher] = []

    def make(handlers: dict[str, Handler], **options: Any) -> OutboxDispatcher:
        dispatcher = OutboxDispatcher(lease_runtime, handlers, worker_id="worker-a", **options)
        made.append(dispatcher)
        return dispatcher

    yield make
    for dispatcher in made:
        dispatcher.close(PATIENCE)


def done(job: Job) -> None:
    return None


def raising(error: BaseException) -> Handler:
    def handler(job: Job) -> None:
        raise error

    return handler


# -- one row at a time ------------------------------------------------------------------------


def test_a_row_whose_handler_returns_is_done(
    lease_runtime: Runtime, dispatchers: Callable[..., OutboxDispatcher], kind: str
) -> None:
    message_id = add_row(lease_runtime, kind)
    assert dispatchers({kind: done}).run_once() == 1
    finished = row(lease_runtime, message_id)
    assert (finished.status, finished.attempts, finished.last_error) == (
        OutboxStatus.done,
        1,
        None,
    )


def test_nothing_due_is_a_round_that_handles_nothing(
    dispatchers: Callable[..., OutboxDispatcher], kind: str
) -> None:
    assert dispatchers({kind: done}).run_once() == 0


def test_retry_later_runs_the_row_again_after_its_delay(
    lease_runtime: Runtime,
    dispatchers: Callable[..., OutboxDispatcher],
    kind: str,
    frozen_clock: FrozenClock,
) -> None:
    message_id = add_row(lease_runtime, kind)
    retry = RetryLater("bank busy", delay=dt.timedelta(minutes=2))
    dispatchers({kind: raising(retry)}).run_once()
    retried = row(lease_runtime, message_id)
    assert (retried.status, retried.last_error, retried.locked_until) == (
        OutboxStatus.pending,
        "bank busy",
        None,
    )
    assert retried.run_after == frozen_clock.at + dt.timedelta(minutes=2)


def test_retry_later_of_a_row_out_of_attempts_makes_it_dead(
    lease_runtime: Runtime, dispatchers: Callable[..., OutboxDispatcher], kind: str
) -> None:
    message_id = add_row(lease_runtime, kind)
    dispatchers({kind: raising(RetryLater("bank busy"))}, max_attempts={kind: 1}).run_once()
    assert row(lease_runtime, message_id).status == OutboxStatus.dead


def test_give_up_makes_the_row_dead_at_once(
    lease_runtime: Runtime, dispatchers: Callable[..., OutboxDispatcher], kind: str
) -> None:
    message_id = add_row(lease_runtime, kind)
    dispatchers({kind: raising(GiveUp("no such account"))}).run_once()
    dead = row(lease_runtime, message_id)
    assert (dead.status, dead.last_error) == (OutboxStatus.dead, "no such account")


def test_an_unexpected_error_is_retried_with_its_type_and_message(
    lease_runtime: Runtime, dispatchers: Callable[..., OutboxDispatcher], kind: str
) -> None:
    message_id = add_row(lease_runtime, kind)
    dispatchers({kind: raising(ValueError("boom"))}).run_once()
    retried = row(lease_runtime, message_id)
    assert (retried.status, retried.last_error) == (OutboxStatus.pending, "ValueError: boom")


def test_an_unexpected_error_of_a_row_out_of_attempts_makes_it_dead(
    lease_runtime: Runtime, dispatchers: Callable[..., OutboxDispatcher], kind: str
) -> None:
    message_id = add_row(lease_runtime, kind)
    dispatchers({kind: raising(ValueError("boom"))}, max_attempts={kind: 1}).run_once()
    assert row(lease_runtime, message_id).status == OutboxStatus.dead


def test_a_postponed_row_waits_its_delay_with_its_attempt_not_counted(
    lease_runtime: Runtime,
    dispatchers: Callable[..., OutboxDispatcher],
    kind: str,
    frozen_clock: FrozenClock,
) -> None:
    message_id = add_row(lease_runtime, kind)
    wait = Postponed("the bank is down", delay=dt.timedelta(minutes=5))
    dispatchers({kind: raising(wait)}).run_once()
    waiting = row(lease_runtime, message_id)
    assert (waiting.status, waiting.locked_by, waiting.attempts, waiting.last_error) == (
        OutboxStatus.pending,
        None,
        0,
        "the bank is down",
    )
    assert waiting.run_after == frozen_clock.at + dt.timedelta(minutes=5)


def test_a_withheld_row_is_handed_back_with_its_attempt_not_counted(
    lease_runtime: Runtime, dispatchers: Callable[..., OutboxDispatcher], kind: str
) -> None:
    message_id = add_row(lease_runtime, kind)
    dispatchers({kind: raising(Withheld())}).run_once()
    handed_back = row(lease_runtime, message_id)
    assert (handed_back.status, handed_back.locked_by, handed_back.attempts) == (
        OutboxStatus.pending,
        None,
        0,
    )


def test_once_stopping_the_rows_not_started_are_handed_back(
    lease_runtime: Runtime,
    dispatchers: Callable[..., OutboxDispatcher],
    kind: str,
    frozen_clock: FrozenClock,
) -> None:
    first = add_row(lease_runtime, kind, run_after=frozen_clock.at - dt.timedelta(seconds=2))
    second = add_row(lease_runtime, kind, run_after=frozen_clock.at - dt.timedelta(seconds=1))

    def stop(job: Job) -> None:
        dispatcher.stopping.set()

    dispatcher = dispatchers({kind: stop})
    assert dispatcher.run_once() == 2
    assert row(lease_runtime, first).status == OutboxStatus.done
    handed_back = row(lease_runtime, second)
    assert (handed_back.locked_by, handed_back.attempts) == (None, 0)
    assert dispatcher.run_once() == 0


def test_a_row_another_worker_took_is_not_handed_back_at_a_stop(
    lease_runtime: Runtime,
    dispatchers: Callable[..., OutboxDispatcher],
    kind: str,
    frozen_clock: FrozenClock,
    lease: Lease,
) -> None:
    other_kind = f"{kind}.other"
    add_row(lease_runtime, kind, run_after=frozen_clock.at - dt.timedelta(seconds=2))
    taken = add_row(lease_runtime, other_kind, run_after=frozen_clock.at - dt.timedelta(seconds=1))

    def stop(job: Job) -> None:
        dispatcher.stopping.set()
        # Meanwhile another worker took the other row after its lease ran out.
        frozen_clock.advance(seconds=LEASE_SECONDS + 1)
        with lease_runtime.database.unit_of_work() as session:
            store.claim(session, "worker-b/1", lease=lease, limit=1, kinds={other_kind})

    dispatcher = dispatchers({kind: stop, other_kind: done})
    assert dispatcher.run_once() == 2
    still_taken = row(lease_runtime, taken)
    assert (still_taken.locked_by, still_taken.attempts) == ("worker-b/1", 2)


def test_drain_dispatches_until_nothing_is_due(
    lease_runtime: Runtime, dispatchers: Callable[..., OutboxDispatcher], kind: str
) -> None:
    add_row(lease_runtime, kind, {"follow_up": True})

    def follow_up(job: Job) -> None:
        if job.message.payload.get("follow_up"):
            with lease_runtime.database.unit_of_work() as session:
                store.enqueue(session, kind, {}, dedupe_key=f"{job.message.id}:next")

    assert dispatchers({kind: follow_up}).drain() == 2


def test_drain_stops_after_its_last_round(
    lease_runtime: Runtime, dispatchers: Callable[..., OutboxDispatcher], kind: str
) -> None:
    add_row(lease_runtime, kind)
    add_row(lease_runtime, kind)
    assert dispatchers({kind: done}, batch_size=1).drain(max_rounds=1) == 1


def test_drain_waits_for_the_lanes_in_hand_before_it_ends(
    lease_runtime: Runtime, dispatchers: Callable[..., OutboxDispatcher], kind: str
) -> None:
    message_id = add_row(lease_runtime, kind, {"endpoint_id": "we_1"})
    idle_round = threading.Event()

    def deliver(job: Job) -> None:
        # Still on the wire when a round finds nothing more to claim.
        assert idle_round.wait(PATIENCE)

    dispatcher = dispatchers({kind: Laned(deliver, lane_key="endpoint_id")})
    run_once = dispatcher.run_once

    def noting_idle_rounds() -> int:
        handled = run_once()
        if handled == 0:
            idle_round.set()
        return handled

    dispatcher.run_once = noting_idle_rounds  # type: ignore[method-assign]
    assert dispatcher.drain() == 1
    assert row(lease_runtime, message_id).status == OutboxStatus.done


# -- batches ----------------------------------------------------------------------------------


class Recorder:
    """A batch handler answering each row by its payload's ``outcome``."""

    def __init__(self, on_start: Callable[[Sequence[Job]], None] | None = None) -> None:
        self.chunks: list[list[str]] = []
        self.recorded: list[set[str]] = []
        self.on_start = on_start

    def start(self, jobs: Sequence[Job]) -> Callable[[], BatchResult]:
        self.chunks.append([job.message.id for job in jobs])
        if self.on_start is not None:
            self.on_start(jobs)
        outcomes = {job.message.id: _outcome(job.message) for job in jobs}
        return lambda: BatchResult(outcomes, self.record)

    def record(self, session: Session, held: set[str]) -> None:
        self.recorded.append(held)


def _outcome(message: OutboxMessage) -> Outcome:
    return {
        "done": None,
        "retry": RetryLater("later", delay=dt.timedelta(minutes=1)),
        "give_up": GiveUp("never"),
        "error": KeyError("missing"),
        "withheld": Withheld(),
        "postponed": Postponed("wait", delay=dt.timedelta(minutes=7)),
    }[message.payload.get("outcome", "done")]


def _rows(runtime: Runtime, kind: str, *outcomes: str, frozen_clock: FrozenClock) -> list[str]:
    return [
        add_row(
            runtime,
            kind,
            {"outcome": outcome},
            run_after=frozen_clock.at - dt.timedelta(seconds=len(outcomes) - n),
        )
        for n, outcome in enumerate(outcomes)
    ]


def test_a_batched_handler_gets_its_rows_a_chunk_at_a_time_and_each_outcome_is_recorded(
    lease_runtime: Runtime,
    dispatchers: Callable[..., OutboxDispatcher],
    kind: str,
    frozen_clock: FrozenClock,
) -> None:
    outcomes = ("done", "retry", "give_up", "error", "withheld")
    ids = _rows(lease_runtime, kind, *outcomes, frozen_clock=frozen_clock)
    recorder = Recorder()
    handler = Batched(done, recorder.start, chunk_size=2)
    assert dispatchers({kind: handler}).run_once() == 5
    assert recorder.chunks == [ids[0:2], ids[2:4], ids[4:5]]
    # Each chunk's own writes are given the rows still held, a withheld row not among them.
    assert recorder.recorded == [set(ids[0:2]), set(ids[2:4]), set()]
    written = [row(lease_runtime, message_id) for message_id in ids]
    assert [(r.status, r.last_error, r.locked_by) for r in written] == [
        (OutboxStatus.done, None, "worker-a/1"),
        (OutboxStatus.pending, "later", "worker-a/1"),
        (OutboxStatus.dead, "never", "worker-a/1"),
        (OutboxStatus.pending, "KeyError: 'missing'", "worker-a/1"),
        (OutboxStatus.pending, None, None),
    ]


def test_a_postponed_row_of_a_batch_is_recorded_and_waits_uncounted(
    lease_runtime: Runtime,
    dispatchers: Callable[..., OutboxDispatcher],
    kind: str,
    frozen_clock: FrozenClock,
) -> None:
    [done_id, waiting_id] = _rows(
        lease_runtime, kind, "done", "postponed", frozen_clock=frozen_clock
    )
    recorder = Recorder()
    dispatchers({kind: Batched(done, recorder.start)}).run_once()
    # The handler decided about the postponed row: its writes are recorded with the rest.
    assert recorder.recorded == [{done_id, waiting_id}]
    waiting = row(lease_runtime, waiting_id)
    assert (waiting.status, waiting.locked_by, waiting.attempts, waiting.last_error) == (
        OutboxStatus.pending,
        None,
        0,
        "wait",
    )
    assert waiting.run_after == frozen_clock.at + dt.timedelta(minutes=7)
    assert row(lease_runtime, done_id).status == OutboxStatus.done


def test_a_batched_handler_that_gives_up_itself_keeps_retrying_past_the_attempt_limit(
    lease_runtime: Runtime,
    dispatchers: Callable[..., OutboxDispatcher],
    kind: str,
    frozen_clock: FrozenClock,
) -> None:
    retried, errored = _rows(lease_runtime, kind, "retry", "error", frozen_clock=frozen_clock)
    handler = Batched(done, Recorder().start, gives_up_itself=True)
    dispatchers({kind: handler}, max_attempts={kind: 1}).run_once()
    # The limit still applies to unexpected errors.
    assert [row(lease_runtime, m).status for m in (retried, errored)] == [
        OutboxStatus.pending,
        OutboxStatus.dead,
    ]


@pytest.mark.parametrize("fails", ["start", "finish"])
def test_a_batch_that_fails_as_a_whole_retries_every_row_of_its_chunk(
    lease_runtime: Runtime,
    dispatchers: Callable[..., OutboxDispatcher],
    kind: str,
    frozen_clock: FrozenClock,
    fails: str,
) -> None:
    ids = _rows(lease_runtime, kind, "done", "done", frozen_clock=frozen_clock)

    def start(jobs: Sequence[Job]) -> Callable[[], BatchResult]:
        if fails == "start":
            raise ConnectionError("no SMTP server")

        def finish() -> BatchResult:
            raise ConnectionError("no SMTP server")

        return finish

    dispatchers({kind: Batched(done, start)}).run_once()
    assert [(row(lease_runtime, m).status, row(lease_runtime, m).last_error) for m in ids] == [
        (OutboxStatus.pending, "ConnectionError: no SMTP server")
    ] * 2


def test_once_stopping_no_further_chunk_starts_and_its_rows_are_handed_back(
    lease_runtime: Runtime,
    dispatchers: Callable[..., OutboxDispatcher],
    kind: str,
    frozen_clock: FrozenClock,
) -> None:
    other_kind = f"{kind}.other"
    first, second = _rows(lease_runtime, kind, "done", "done", frozen_clock=frozen_clock)
    other = add_row(lease_runtime, other_kind)
    recorder = Recorder(on_start=lambda jobs: dispatcher.stopping.set())
    dispatcher = dispatchers(
        {
            kind: Batched(done, recorder.start, chunk_size=1),
            other_kind: Batched(done, recorder.start),
        }
    )
    dispatcher.run_once()
    assert recorder.chunks == [[first]]
    assert row(lease_runtime, first).status == OutboxStatus.done
    assert [
        (row(lease_runtime, m).locked_by, row(lease_runtime, m).attempts) for m in (second, other)
    ] == [
        (None, 0),
        (None, 0),
    ]


def test_rows_another_worker_took_are_neither_started_nor_recorded(
    lease_runtime: Runtime,
    dispatchers: Callable[..., OutboxDispatcher],
    kind: str,
    frozen_clock: FrozenClock,
    lease: Lease,
) -> None:
    ids = _rows(lease_runtime, kind, "done", "give_up", "done", frozen_clock=frozen_clock)

    def lose_everything(jobs: Sequence[Job]) -> None:
        # While the first chunk is on the wire, the worker cannot renew; another worker
        # takes every row once their lease has run out, and the next renewal finds them gone.
        frozen_clock.advance(seconds=LEASE_SECONDS + 1)
        with lease_runtime.database.unit_of_work() as session:
            store.claim(session, "worker-b/1", lease=lease, limit=10, kinds={kind})
        dispatcher.leases.renew()

    recorder = Recorder(on_start=lose_everything)
    dispatcher = dispatchers({kind: Batched(done, recorder.start, chunk_size=2)})
    dispatcher.run_once()
    assert recorder.chunks == [ids[0:2]]
    assert recorder.recorded == [set()]
    taken = [row(lease_runtime, m) for m in ids]
    assert {(r.status, r.locked_by, r.last_error) for r in taken} == {
        (OutboxStatus.pending, "worker-b/1", None)
    }


# -- lanes ------------------------------------------------------------------------------------


def test_rows_of_a_lane_run_one_after_another_in_the_order_claimed(
    lease_runtime: Runtime,
    dispatchers: Callable[..., OutboxDispatcher],
    kind: str,
    frozen_clock: FrozenClock,
) -> None:
    ran: list[str] = []
    ids = [
        add_row(
            lease_runtime,
            kind,
            {"endpoint_id": lane},
            run_after=frozen_clock.at - dt.timedelta(seconds=10 - n),
        )
        for n, lane in enumerate(["we_1", "we_2", "we_1", "we_1"])
    ]
    dispatcher = dispatchers(
        {kind: Laned(lambda job: ran.append(job.message.id), lane_key="endpoint_id")}
    )
    assert dispatcher.drain() == 4
    assert [m for m in ran if m != ids[1]] == [ids[0], ids[2], ids[3]]
    assert {row(lease_runtime, m).status for m in ids} == {OutboxStatus.done}


def test_no_more_rows_of_a_busy_lane_are_claimed_but_other_lanes_go_on(
    lease_runtime: Runtime,
    dispatchers: Callable[..., OutboxDispatcher],
    kind: str,
    frozen_clock: FrozenClock,
) -> None:
    release_slow = threading.Event()
    ran: list[str] = []

    def deliver(job: Job) -> None:
        if job.message.payload["endpoint_id"] == "we_slow":
            assert release_slow.wait(PATIENCE)
        ran.append(job.message.id)

    slow = add_row(lease_runtime, kind, {"endpoint_id": "we_slow"})
    dispatcher = dispatchers({kind: Laned(deliver, lane_key="endpoint_id")})
    assert dispatcher.run_once() == 1
    queued = add_row(lease_runtime, kind, {"endpoint_id": "we_slow"})
    fast = add_row(lease_runtime, kind, {"endpoint_id": "we_fast"})
    assert dispatcher.run_once() == 1  # the fast lane's row only
    wait_until(lambda: fast in ran)
    release_slow.set()
    assert dispatcher.wait_for_lanes(PATIENCE)
    assert dispatcher.run_once() == 1
    assert dispatcher.wait_for_lanes(PATIENCE)
    assert ran == [fast, slow, queued]


def test_a_row_waiting_in_its_lane_when_the_worker_stops_is_handed_back(
    lease_runtime: Runtime,
    dispatchers: Callable[..., OutboxDispatcher],
    kind: str,
    frozen_clock: FrozenClock,
) -> None:
    started = threading.Event()
    go_on = threading.Event()

    def deliver(job: Job) -> None:
        started.set()
        assert go_on.wait(PATIENCE)

    first, waiting = (
        add_row(
            lease_runtime,
            kind,
            {"endpoint_id": "we_1"},
            run_after=frozen_clock.at - dt.timedelta(seconds=2 - n),
        )
        for n in range(2)
    )
    dispatcher = dispatchers({kind: Laned(deliver, lane_key="endpoint_id")})
    dispatcher.run_once()
    assert started.wait(PATIENCE)
    dispatcher.stopping.set()
    go_on.set()
    dispatcher.close(PATIENCE)
    assert row(lease_runtime, first).status == OutboxStatus.done
    handed_back = row(lease_runtime, waiting)
    assert (handed_back.status, handed_back.locked_by, handed_back.attempts) == (
        OutboxStatus.pending,
        None,
        0,
    )


def test_a_lane_goes_on_after_a_row_whose_outcome_could_not_be_written(
    lease_runtime: Runtime,
    dispatchers: Callable[..., OutboxDispatcher],
    kind: str,
    frozen_clock: FrozenClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    first, second = (
        add_row(
            lease_runtime,
            kind,
            {"endpoint_id": "we_1"},
            run_after=frozen_clock.at - dt.timedelta(seconds=2 - n),
        )
        for n in range(2)
    )
    finish = store.finish
    refused: list[str] = []

    def refuse_first(session: Session, message_ids: Sequence[str], owner: str) -> None:
        if not refused:
            refused.extend(message_ids)
            raise ConnectionError("the database went away")
        finish(session, message_ids, owner)

    monkeypatch.setattr(store, "finish", refuse_first)
    dispatcher = dispatchers({kind: Laned(done, lane_key="endpoint_id")})
    with structlog.testing.capture_logs() as logs:
        assert dispatcher.drain() == 2
    assert refused == [first]
    assert row(lease_runtime, second).status == OutboxStatus.done
    assert row(lease_runtime, first).status == OutboxStatus.pending
    assert [e["event"] for e in logs if e["event"] == "outbox.lane_failed"] == [
        "outbox.lane_failed"
    ]


def test_closing_a_dispatcher_that_never_ran_a_lane_does_nothing(
    dispatchers: Callable[..., OutboxDispatcher], kind: str
) -> None:
    dispatcher = dispatchers({kind: done})
    dispatcher.close()
    assert not dispatcher.lanes_busy()


# -- leases -----------------------------------------------------------------------------------


def test_the_lease_of_a_row_in_hand_is_renewed_while_its_handler_runs(
    settings: Any, kind: str
) -> None:
    # Three seconds: renewed each second, and held while more than one and a half are
    # left, so a loaded machine's pause between the renewal and the record cannot make
    # the worker hand the row back (with one second, half a second's pause did).
    runtime = Runtime.from_settings(settings.model_copy(update={"outbox_lease_seconds": 3}))
    message_id = add_row(runtime, kind)
    claimed_until: list[dt.datetime | None] = []

    def wait_for_renewal(job: Job) -> None:
        claimed_until.append(job.message.locked_until)
        wait_until(lambda: row(runtime, message_id).locked_until != claimed_until[0])

    try:
        dispatcher = OutboxDispatcher(runtime, {kind: wait_for_renewal})
        assert dispatcher.run_once() == 1
        assert row(runtime, message_id).status == OutboxStatus.done
        # With nothing in hand, the renewing thread ends.
        wait_until(lambda: dispatcher.leases._keeper is None)
    finally:
        runtime.database.engine.dispose()


def test_a_row_whose_lease_cannot_be_renewed_stops_being_held() -> None:
    unreachable = Database(make_engine("postgresql+psycopg://postgres@127.0.0.1:9/relink"))
    leases = Leases(unreachable, Lease(dt.timedelta(seconds=1)), threading.Event())
    with structlog.testing.capture_logs() as logs:
        leases.add("worker-a/1", ["obx_1"], time.monotonic())
        assert leases.held("obx_1")
        wait_until(lambda: not leases.held("obx_1"))
        wait_until(lambda: any(e["event"] == "outbox.lease_renewal_failed" for e in logs))
    leases.drop(["obx_1"])
    assert leases.owned("worker-a/1") == set()
    unreachable.engine.dispose()
