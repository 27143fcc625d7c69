"""The dispatcher: the loop that claims due outbox rows, runs their handlers and records
what became of each.

A worker killed mid-batch leaves rows whose lease expires, and another worker takes them
again, so nothing is lost; handlers are idempotent or dedupe by the row id, so a replay
never produces a second distinct side effect.
"""

from __future__ import annotations

import functools
import itertools
import os
import random
import socket
import threading
import time
import traceback
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import structlog
from sqlalchemy.orm import Session

from relink.db import Database
from relink.kit import clock
from relink.models import OutboxMessage
from relink.outbox import store
from relink.outbox.handlers import (
    DEFAULT_MAX_ATTEMPTS,
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

log = structlog.get_logger("relink.outbox")


def default_worker_id() -> str:
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{random.randrange(1 << 30):x}"


class Leases:
    """The rows a worker holds, kept alive from their claim until each is recorded or
    handed back.

    A lease must cover the whole time a row is in hand: while it waits behind the other
    rows of its batch, its lane or its SMTP connection, and while it is on the wire. A
    thread renews every held row each third of the lease. A row whose renewal finds it
    gone (another worker took it after its lease ran out while this worker could not
    reach the database) is forgotten, and :meth:`held` tells whoever is about to act on
    a row whether it may: the lease is still well ahead and the worker is not stopping.
    """

    def __init__(self, database: Database, lease: Lease, stopping: threading.Event) -> None:
        self.database = database
        self.lease = lease
        self.seconds = lease.duration.total_seconds()
        self.stopping = stopping
        self._owners: dict[str, str] = {}
        # Per claim (owner): when its rows' lease ends at the latest, as far as this worker
        # knows (monotonic seconds, from the start of its last successful renewal).
        self._valid_until: dict[str, float] = {}
        self._lock = threading.Lock()
        self._keeper: threading.Thread | None = None

    def add(self, owner: str, message_ids: Sequence[str], claimed_at: float) -> None:
        with self._lock:
            self._valid_until[owner] = claimed_at + self.seconds
            for message_id in message_ids:
                self._owners[message_id] = owner
            if self._keeper is None and self._owners:
                self._keeper = threading.Thread(
                    target=self._keep, name="relink-leases", daemon=True
                )
                self._keeper.start()

    def drop(self, message_ids: Sequence[str]) -> None:
        with self._lock:
            for message_id in message_ids:
                self._owners.pop(message_id, None)
            live = set(self._owners.values())
            for owner in [o for o in self._valid_until if o not in live]:
                del self._valid_until[owner]

    def held(self, message_id: str) -> bool:
        """May this worker start the row's side effect now?"""
        if self.stopping.is_set():
            return False
        with self._lock:
            owner = self._owners.get(message_id)
            if owner is None:
                return False
            # Half a lease left at least: the renewal every third keeps it above two
            # thirds; less means renewals are failing and the row may soon be taken.
            remaining = self._valid_until.get(owner, 0.0) - time.monotonic()
        return remaining > self.seconds / 2

    def owned(self, owner: str) -> set[str]:
        """The rows of one claim still in hand."""
        with self._lock:
            return {m for m, o in self._owners.items() if o == owner}

    def held_by(self) -> dict[str, list[str]]:
        with self._lock:
            owners: dict[str, list[str]] = {}
            for message_id, owner in self._owners.items():
                owners.setdefault(owner, []).append(message_id)
            return owners

    def _keep(self) -> None:
        interval = max(0.1, self.seconds / 3)
        while True:
            time.sleep(interval)
            with self._lock:
                if not self._owners:
                    self._keeper = None
                    return
            try:
                self.renew()
            except Exception:
                log.warning("outbox.lease_renewal_failed", exc_info=True)

    def renew(self) -> None:
        started = time.monotonic()
        owners = self.held_by()
        kept: dict[str, set[str]] = {}
        with self.database.unit_of_work(durable=False) as session:
            for owner, message_ids in owners.items():
                kept[owner] = store.renew(session, message_ids, owner, self.lease)
        lost = {(m, owner) for owner, message_ids in owners.items() for m in message_ids} - {
            (m, owner) for owner, message_ids in kept.items() for m in message_ids
        }
        with self._lock:
            self._owners = {m: o for m, o in self._owners.items() if (m, o) not in lost}
            # The claims renewed are good for a lease from the start of this renewal; a
            # claim with no row left in hand is forgotten.
            live = set(self._owners.values())
            self._valid_until = {
                owner: started + self.seconds if owner in owners else valid_until
                for owner, valid_until in self._valid_until.items()
                if owner in live
            }
        for owner, rows in Counter(owner for _, owner in lost).items():
            log.warning("outbox.lease_lost", owner=owner, rows=rows)


# Rows claimed per round (one claim query and transaction for all of them); batched
# handlers then work through their rows a chunk at a time (:class:`Batched`).
DEFAULT_BATCH_SIZE = 200
# Lanes (webhook endpoints) served at once by one worker.
DEFAULT_LANES = 8


@dataclass(frozen=True)
class StartedChunk:
    """Rows whose side effects are under way, and how to wait for their outcomes."""

    messages: list[OutboxMessage]
    finish: Callable[[], BatchResult]


class OutboxDispatcher:
    """Claims due rows and runs the registered handler of each.

    Each claim writes its own owner (the worker id and the claim's number) to the rows'
    ``locked_by``; :class:`Leases` keeps the claim alive while its rows are in hand, and
    every write of an outcome is conditional on that owner, so a worker never records a
    row it no longer holds. Once ``stopping`` is set, nothing new starts: rows not yet
    started are handed back (:func:`store.release`) and only the side effects already under way
    finish.
    """

    def __init__(
        self,
        runtime: Runtime,
        handlers: dict[str, Handler],
        *,
        worker_id: str | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        max_attempts: dict[str, int] | None = None,
        lanes: int = DEFAULT_LANES,
        stopping: threading.Event | None = None,
    ) -> None:
        self.runtime = runtime
        self.handlers = handlers
        self.worker_id = worker_id or default_worker_id()
        self.batch_size = batch_size
        # Lanes of :class:`Laned` rows run at once (threads, each using its own connection).
        self.lanes = lanes
        self.max_attempts = max_attempts or {}
        self.stopping = stopping or threading.Event()
        self.lease = Lease.of(runtime.settings)
        self.leases = Leases(runtime.database, self.lease, self.stopping)
        self._claims = itertools.count(1)
        # Lanes in hand: their queued rows (with the claim that holds each), run by
        # ``_lane_pool``; a lane is busy while it has an entry here.
        self._lane_rows: dict[tuple[str, str], list[tuple[OutboxMessage, str]]] = {}
        self._lane_lock = threading.Condition()
        self._lane_pool: ThreadPoolExecutor | None = None

    def run_once(self) -> int:
        """Claim one batch and dispatch it; returns the number of rows handled."""
        if self.stopping.is_set():
            return 0
        owner = f"{self.worker_id}/{next(self._claims)}"
        claimed_at = time.monotonic()
        with self.runtime.database.unit_of_work(durable=False) as session:
            batch = store.claim(
                session,
                owner,
                lease=self.lease,
                limit=self.batch_size,
                kinds=set(self.handlers),
                busy_lanes=self.busy_lanes(),
            )
        if not batch:
            return 0
        self.leases.add(owner, [m.id for m in batch], claimed_at)
        laned = [m for m in batch if isinstance(self.handlers[m.kind], Laned)]
        rest = [m for m in batch if not isinstance(self.handlers[m.kind], Laned)]
        try:
            self.start_lanes(laned, owner)
            self.dispatch_claimed(rest, owner)
        finally:
            self.hand_back(owner, [m.id for m in rest])
        return len(batch)

    def dispatch_claimed(self, batch: list[OutboxMessage], owner: str) -> None:
        batched: dict[str, list[OutboxMessage]] = {}
        for message in batch:
            if isinstance(self.handlers[message.kind], Batched):
                batched.setdefault(message.kind, []).append(message)
        for kind, messages in batched.items():
            self.dispatch_batch(kind, messages, owner)
        self.dispatch_in_turn(
            [m for m in batch if not isinstance(self.handlers[m.kind], Batched | Laned)], owner
        )

    # -- lanes -------------------------------------------------------------------------------

    def busy_lanes(self) -> list[tuple[str, str, set[str]]]:
        """The lanes in hand, as :func:`claim` skips them: (kind, payload key, values)."""
        with self._lane_lock:
            busy: dict[str, set[str]] = {}
            for kind, lane in self._lane_rows:
                busy.setdefault(kind, set()).add(lane)
        keys = {
            kind: handler.lane_key
            for kind, handler in self.handlers.items()
            if isinstance(handler, Laned)
        }
        return [(kind, keys[kind], lanes) for kind, lanes in busy.items()]

    def start_lanes(self, messages: list[OutboxMessage], owner: str) -> None:
        """Queue laned rows on their lanes and return at once; an idle lane starts."""
        for message in messages:
            handler = self.handlers[message.kind]
            assert isinstance(handler, Laned)
            key = (message.kind, handler.lane(message))
            with self._lane_lock:
                queued = self._lane_rows.get(key)
                if queued is not None:
                    queued.append((message, owner))
                    continue
                self._lane_rows[key] = [(message, owner)]
                if self._lane_pool is None:
                    self._lane_pool = ThreadPoolExecutor(
                        self.lanes, thread_name_prefix="relink-lane"
                    )
                pool = self._lane_pool
            pool.submit(self._run_lane, key)

    def _run_lane(self, key: tuple[str, str]) -> None:
        while True:
            with self._lane_lock:
                queued = self._lane_rows[key]
                if not queued:
                    del self._lane_rows[key]
                    self._lane_lock.notify_all()
                    return
                message, owner = queued.pop(0)
            try:
                if self.leases.held(message.id):
                    self.dispatch(message, owner)
                else:
                    self.hand_back(owner, [message.id])
            except Exception:
                log.exception("outbox.lane_failed", id=message.id, kind=message.kind)

    def lanes_busy(self) -> bool:
        with self._lane_lock:
            return bool(self._lane_rows)

    def wait_for_lanes(self, timeout: float | None = None) -> bool:
        """Wait until every lane in hand has run out of rows; False on timeout."""
        with self._lane_lock:
            return self._lane_lock.wait_for(lambda: not self._lane_rows, timeout)

    def close(self, timeout: float | None = None) -> None:
        """Let the lanes finish (a stopping worker's lanes only finish what is on the
        wire and hand the rest back), then stop their threads."""
        self.wait_for_lanes(timeout)
        with self._lane_lock:
            pool, self._lane_pool = self._lane_pool, None
        if pool is not None:
            pool.shutdown(wait=False)

    def hand_back(self, owner: str, message_ids: Sequence[str]) -> None:
        """Release the rows of a claim that are still in hand (never started)."""
        unstarted = [m for m in message_ids if m in self.leases.owned(owner)]
        if not unstarted:
            return
        try:
            with self.runtime.database.unit_of_work(durable=False) as session:
                released = store.release(session, unstarted, owner)
        finally:
            self.leases.drop(unstarted)
        if released:
            log.info("outbox.released", owner=owner, rows=len(released))

    def dispatch_in_turn(self, messages: list[OutboxMessage], owner: str) -> None:
        for message in messages:
            # Asked right before the side effect: a row whose lease was lost may already
            # be another worker's, and a stopping worker starts nothing new.
            if not self.leases.held(message.id):
                continue
            self.dispatch(message, owner)

    def drain(self, *, max_rounds: int = 1000) -> int:
        """Dispatch until nothing is due and every lane has finished."""
        total = 0
        for _ in range(max_rounds):
            handled = self.run_once()
            total += handled
            if handled == 0:
                if not self.lanes_busy():
                    break
                self.wait_for_lanes()
        return total

    def job(self, message: OutboxMessage, owner: str) -> Job:
        return Job(
            self.runtime, message, owner, held=functools.partial(self.leases.held, message.id)
        )

    def dispatch(self, message: OutboxMessage, owner: str) -> None:
        try:
            self._dispatch(message, owner)
        finally:
            self.leases.drop([message.id])

    def _dispatch(self, message: OutboxMessage, owner: str) -> None:
        outcome = self._run(message, owner)
        with self.runtime.database.unit_of_work(durable=False) as session:
            if outcome is None:
                store.finish(session, [message.id], owner)
                return
            if isinstance(outcome, Withheld):
                store.release(session, [message.id], owner)
                return
            if isinstance(outcome, Postponed):
                _postpone(session, [(message.id, outcome)], owner)
                return
            failure = self.failure(message, outcome)
            store.fail(session, [failure], owner)
        _log_failure(failure, outcome)

    def _run(self, message: OutboxMessage, owner: str) -> Outcome:
        # The exception leaves this frame as a return value: kept in a local of a frame
        # its own traceback holds, it would be a cycle that keeps the handler's frames
        # (and their sockets) alive until the garbage collector runs.
        try:
            self.handlers[message.kind](self.job(message, owner))
        except Exception as error:
            return error
        return None

    def failure(self, message: OutboxMessage, outcome: BaseException) -> store.Failure:
        """What a handler's exception writes to its row: RetryLater runs the row again
        (after its delay), GiveUp makes it dead, and anything else is retried with backoff;
        a row out of attempts is dead, unless its handler gives up by itself and asked for
        a retry."""
        handler = self.handlers[message.kind]
        limit = self.max_attempts.get(message.kind, DEFAULT_MAX_ATTEMPTS)
        out_of_attempts = message.attempts >= limit
        if isinstance(outcome, RetryLater):
            gives_up_itself = isinstance(handler, Batched) and handler.gives_up_itself
            return store.Failure(
                message,
                outcome.reason,
                dead=out_of_attempts and not gives_up_itself,
                delay=outcome.delay,
            )
        if isinstance(outcome, GiveUp):
            return store.Failure(message, str(outcome), dead=True)
        reason = "".join(traceback.format_exception_only(outcome)).strip()
        return store.Failure(message, reason, dead=out_of_attempts)

    def dispatch_batch(self, kind: str, messages: list[OutboxMessage], owner: str) -> None:
        """Run a batch handler on rows of one kind, a chunk at a time: a chunk's outcomes
        are recorded once the next chunk has started (see :class:`Batched`)."""
        handler = self.handlers[kind]
        assert isinstance(handler, Batched)
        waiting: StartedChunk | None = None
        for start in range(0, len(messages), handler.chunk_size):
            if self.stopping.is_set():
                break  # the chunks not started are handed back
            started = self.start_chunk(handler, messages[start : start + handler.chunk_size], owner)
            if waiting is not None:
                self.record_chunk(kind, waiting, owner)
            waiting = started
        if waiting is not None:
            self.record_chunk(kind, waiting, owner)

    def start_chunk(
        self, handler: Batched, messages: list[OutboxMessage], owner: str
    ) -> StartedChunk | None:
        mine = [m for m in messages if self.leases.held(m.id)]
        if not mine:
            return None
        jobs = [self.job(message, owner) for message in mine]
        try:
            return StartedChunk(mine, handler.start(jobs))
        except Exception as error:
            return _failed_chunk(mine, error)

    def record_chunk(self, kind: str, chunk: StartedChunk, owner: str) -> None:
        """Wait for a started chunk's outcomes; record them all in one transaction, for the
        rows this claim still holds only."""
        database = self.runtime.database
        mine = chunk.messages
        result = _outcomes(chunk)
        done: list[str] = []
        withheld: list[str] = []
        postponed: list[tuple[str, Postponed]] = []
        failed: list[tuple[store.Failure, BaseException]] = []
        for message in mine:
            outcome = result.outcomes.get(message.id)
            if outcome is None:
                done.append(message.id)
            elif isinstance(outcome, Withheld):
                withheld.append(message.id)
            elif isinstance(outcome, Postponed):
                postponed.append((message.id, outcome))
            else:
                failed.append((self.failure(message, outcome), outcome))
        try:
            with database.unit_of_work(durable=False) as session:
                held = store.still_held(session, [m.id for m in mine], owner)
                if result.record is not None:
                    result.record(session, held - set(withheld))
                store.finish(session, [m for m in done if m in held], owner)
                store.fail(session, [f for f, _ in failed if f.message.id in held], owner)
                store.release(session, [m for m in withheld if m in held], owner)
                _postpone(session, [p for p in postponed if p[0] in held], owner)
        finally:
            self.leases.drop([m.id for m in mine])
        lost = {m.id for m in mine} - held
        if lost:
            log.warning("outbox.outcomes_not_recorded", kind=kind, owner=owner, rows=len(lost))
        for failure, outcome in failed:
            if failure.message.id in held:
                _log_failure(failure, outcome)


def _postpone(session: Session, rows: Sequence[tuple[str, Postponed]], owner: str) -> None:
    """Hand postponed rows back, each to run again after its own delay."""
    now = clock.now()
    for message_id, outcome in rows:
        store.release(
            session, [message_id], owner, run_after=now + outcome.delay, reason=outcome.reason
        )
        log.info("outbox.postponed", id=message_id, reason=outcome.reason)


def _failed_chunk(messages: list[OutboxMessage], error: Exception) -> StartedChunk:
    """A chunk whose start failed: every row has the start's error (see :meth:`_run` on why
    this is built outside the frame that caught it)."""
    failure = BatchResult(dict.fromkeys((m.id for m in messages), error))
    return StartedChunk(messages, lambda: failure)


def _outcomes(chunk: StartedChunk) -> BatchResult:
    """Wait for a started chunk; a failure to finish is every row's outcome."""
    try:
        return chunk.finish()
    except Exception as error:
        return BatchResult(dict.fromkeys((m.id for m in chunk.messages), error))


def _log_failure(failure: store.Failure, outcome: BaseException) -> None:
    message = failure.message
    if isinstance(outcome, GiveUp):
        log.warning("outbox.dead", id=message.id, kind=message.kind, reason=failure.reason)
    elif isinstance(outcome, RetryLater):
        log.info(
            "outbox.retry",
            id=message.id,
            kind=message.kind,
            state=failure.status,
            reason=failure.reason,
        )
    else:
        log.error(
            "outbox.handler_error",
            id=message.id,
            kind=message.kind,
            state=failure.status,
            exc_info=outcome,
        )
