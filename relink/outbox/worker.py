"""Claiming and dispatching outbox rows.

A claim is a lease: the worker sets ``locked_until`` on a batch of due rows in one
statement (``FOR UPDATE SKIP LOCKED`` on PostgreSQL; on SQLite the statement runs under
the single write lock). A worker killed mid-batch leaves rows whose lease expires, and
another worker takes them again, so nothing is lost; handlers are idempotent or
dedupe by the row id, so a replay never produces a second distinct side effect.
"""

from __future__ import annotations

import datetime as dt
import functools
import itertools
import os
import random
import socket
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import structlog
from sqlalchemy import Table, and_, bindparam, case, not_, or_, select, update
from sqlalchemy.orm import Session

from relink.db import Database
from relink.kit import clock
from relink.models import OutboxMessage, OutboxStatus
from relink.runtime import Runtime

log = structlog.get_logger("relink.outbox")

LEASE = dt.timedelta(seconds=60)
BASE_DELAY = dt.timedelta(seconds=10)
MAX_DELAY = dt.timedelta(hours=6)
DEFAULT_MAX_ATTEMPTS = 12
_NO_LIMIT = 1 << 30


class RetryLater(Exception):
    """Transient failure: try again after ``delay`` (or the default backoff)."""

    def __init__(self, reason: str, *, delay: dt.timedelta | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.delay = delay


class GiveUp(Exception):
    """Permanent failure: the row goes to the dead-letter state, visible to operators."""


class Withheld(Exception):
    """The row's side effect was not started (its lease was lost or the worker is
    stopping): nothing is recorded and the row is handed back."""


def _always_held() -> bool:
    return True


@dataclass(frozen=True)
class Job:
    runtime: Runtime
    message: OutboxMessage
    # The owner written to the row's ``locked_by`` by this claim (the worker and the claim).
    worker_id: str
    # Whether the row is still this worker's to act on: asked right before a side effect
    # that waited (an email queued behind others for its connection). False once the
    # lease is lost or the worker is stopping and the row was not started.
    held: Callable[[], bool] = _always_held


Handler = Callable[[Job], None]

# What became of one row of a batch: None when it is done, else what the single-row
# handler would have raised (RetryLater, GiveUp or any other exception: a retry).
Outcome = BaseException | None


@dataclass(frozen=True)
class BatchResult:
    """The outcome of every row of a batch, and the writes that record them.

    ``record`` runs in the same transaction as the rows' outbox bookkeeping, so a batch's
    results and its rows' statuses commit together. It is given the ids of the rows this
    worker still held when their status was written, and records the results of those
    only: a row whose lease was lost is another worker's, and so is its outcome.
    """

    outcomes: dict[str, Outcome]
    record: Callable[[Session, set[str]], None] | None = None


# Starts a batch's side effects and returns at once with a function that waits for them
# and gives the outcome of every row.
BatchStart = Callable[[Sequence[Job]], Callable[[], BatchResult]]


@dataclass(frozen=True)
class Batched:
    """A handler that can also take many rows of its kind at once.

    Called with one job it behaves as the single-row handler; the dispatcher hands it
    the claimed rows of its kind through ``start``, ``chunk_size`` at a time, and records
    each chunk's outcomes in one transaction once the next chunk has started (its
    bookkeeping overlaps the next chunk's side effects). A worker killed meanwhile has
    done what it did without recording it: at most two chunks are replayed after a crash.
    """

    single: Handler
    start: BatchStart
    chunk_size: int = 50
    # The handler decides when a transiently failing row is given up (it answers
    # GiveUp); the dispatcher's attempt limit then applies to unexpected errors only.
    gives_up_itself: bool = False

    def __call__(self, job: Job) -> None:
        self.single(job)


@dataclass(frozen=True)
class Laned:
    """A handler whose rows run in lanes, one lane per value of ``payload[lane_key]``.

    Rows of one lane run one after another, in the order they were claimed; lanes run at
    once (up to the dispatcher's ``lanes``), on their own threads, across claims: the
    dispatcher does not wait for a lane before its next claim, and claims no more rows
    of a lane while that lane is busy. Webhook deliveries have a lane per endpoint: a
    slow or unreachable endpoint holds up only its own deliveries, and no receiver gets
    more than one request from a worker at a time.
    """

    handler: Handler
    lane_key: str

    def lane(self, message: OutboxMessage) -> str:
        return str(message.payload[self.lane_key])

    def __call__(self, job: Job) -> None:
        self.handler(job)


def backoff(
    attempts: int, *, base: dt.timedelta = BASE_DELAY, cap: dt.timedelta = MAX_DELAY
) -> dt.timedelta:
    """Capped exponential backoff with full jitter."""
    exponential = base.total_seconds() * (2 ** max(0, attempts - 1))
    ceiling = min(cap.total_seconds(), exponential)
    return dt.timedelta(seconds=ceiling / 2 + random.uniform(0, ceiling / 2))


def default_worker_id() -> str:
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{random.randrange(1 << 30):x}"


def claim(
    session: Session,
    worker_id: str,
    *,
    limit: int,
    kinds: set[str] | None = None,
    lease: dt.timedelta = LEASE,
    busy_lanes: Sequence[tuple[str, str, set[str]]] = (),
) -> list[OutboxMessage]:
    """Lease up to ``limit`` due rows to ``worker_id``; rows of ``busy_lanes`` (kind,
    payload key, values) are left for later, or for another worker."""
    now = clock.now()
    due = (
        select(OutboxMessage.id)
        .where(
            OutboxMessage.status == OutboxStatus.pending,
            OutboxMessage.run_after <= now,
            or_(OutboxMessage.locked_until.is_(None), OutboxMessage.locked_until < now),
        )
        .order_by(OutboxMessage.run_after)
        .limit(limit)
    )
    if kinds is not None:
        due = due.where(OutboxMessage.kind.in_(kinds))
    for kind, key, values in busy_lanes:
        due = due.where(
            not_(
                and_(
                    OutboxMessage.kind == kind,
                    OutboxMessage.payload[key].as_string().in_(sorted(values)),
                )
            )
        )
    if session.get_bind().dialect.name == "postgresql":
        due = due.with_for_update(skip_locked=True)
    ids = list(session.scalars(due))
    if not ids:
        return []
    session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id.in_(ids))
        .values(locked_until=now + lease, locked_by=worker_id, attempts=OutboxMessage.attempts + 1)
    )
    claimed = (
        select(OutboxMessage)
        .where(OutboxMessage.id.in_(ids))
        .order_by(OutboxMessage.run_after)
        .execution_options(populate_existing=True)
    )
    return list(session.scalars(claimed))


def _still_mine(message_id: str, worker_id: str) -> object:
    return and_(
        OutboxMessage.id == message_id,
        OutboxMessage.locked_by == worker_id,
        OutboxMessage.status == OutboxStatus.pending,
    )


def renew_lease(session: Session, message_id: str, worker_id: str, lease: dt.timedelta) -> bool:
    """Extend this worker's claim on a row; False if the claim was lost.

    The owner (``locked_by``) is the fence: a row whose lease ran out but that no other
    worker claimed is still this claim's, and a row another worker claimed carries
    that worker's owner.
    """
    return bool(renew_leases(session, [message_id], worker_id, lease))


def renew_leases(
    session: Session, message_ids: Sequence[str], worker_id: str, lease: dt.timedelta
) -> set[str]:
    """Extend this worker's claim on many rows at once; returns the ids still held."""
    if not message_ids:
        return set()
    now = clock.now()
    held = (
        update(OutboxMessage)
        .where(
            OutboxMessage.id.in_(message_ids),
            OutboxMessage.locked_by == worker_id,
            OutboxMessage.status == OutboxStatus.pending,
        )
        .values(locked_until=now + lease)
        .returning(OutboxMessage.id)
    )
    return set(session.scalars(held))


def still_held(session: Session, message_ids: Sequence[str], worker_id: str) -> set[str]:
    """The rows of ``message_ids`` this claim still holds, locked until the transaction ends
    (so no other worker takes them between this check and the writes that follow)."""
    if not message_ids:
        return set()
    query = select(OutboxMessage.id).where(
        OutboxMessage.id.in_(message_ids),
        OutboxMessage.locked_by == worker_id,
        OutboxMessage.status == OutboxStatus.pending,
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()
    return set(session.scalars(query))


def release(session: Session, message_ids: Sequence[str], worker_id: str) -> set[str]:
    """Hand rows back unstarted: their lease ends now and the claim's attempt is not
    counted, so another worker (or this one, later) takes them at once."""
    if not message_ids:
        return set()
    released = (
        update(OutboxMessage)
        .where(
            OutboxMessage.id.in_(message_ids),
            OutboxMessage.locked_by == worker_id,
            OutboxMessage.status == OutboxStatus.pending,
        )
        .values(
            locked_until=None,
            locked_by=None,
            attempts=case((OutboxMessage.attempts > 0, OutboxMessage.attempts - 1), else_=0),
        )
        .returning(OutboxMessage.id)
    )
    return set(session.scalars(released))


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

    def __init__(self, database: Database, lease: dt.timedelta, stopping: threading.Event):
        self.database = database
        self.lease = lease
        self.stopping = stopping
        self._owners: dict[str, str] = {}
        # Per claim (owner): when its rows' lease ends at the latest, as far as this worker
        # knows (monotonic seconds, from the start of its last successful renewal).
        self._valid_until: dict[str, float] = {}
        self._lock = threading.Lock()
        self._keeper: threading.Thread | None = None

    def add(self, owner: str, message_ids: Sequence[str], claimed_at: float) -> None:
        with self._lock:
            self._valid_until[owner] = claimed_at + self.lease.total_seconds()
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
        return remaining > self.lease.total_seconds() / 2

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
        interval = max(0.1, self.lease.total_seconds() / 3)
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
                kept[owner] = renew_leases(session, message_ids, owner, self.lease)
        with self._lock:
            for owner, message_ids in owners.items():
                lost = [m for m in message_ids if m not in kept[owner]]
                for message_id in lost:
                    if self._owners.get(message_id) == owner:
                        del self._owners[message_id]
                if lost:
                    log.warning("outbox.lease_lost", owner=owner, rows=len(lost))
                if owner in self._valid_until:
                    self._valid_until[owner] = started + self.lease.total_seconds()


def mark_done(session: Session, message_id: str, worker_id: str) -> bool:
    """Finish a claimed row; False if the lease was lost (another worker took it)."""
    result = session.execute(
        update(OutboxMessage)
        .where(_still_mine(message_id, worker_id))  # type: ignore[arg-type]
        .values(
            status=OutboxStatus.done, finished_at=clock.now(), locked_until=None, last_error=None
        )
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def mark_failed(
    session: Session,
    message: OutboxMessage,
    worker_id: str,
    reason: str,
    *,
    delay: dt.timedelta | None,
    permanent: bool,
    max_attempts: int,
) -> str:
    now = clock.now()
    dead = permanent or message.attempts >= max_attempts
    values: dict[str, object] = {"last_error": reason[:4000], "locked_until": None}
    if dead:
        values.update(status=OutboxStatus.dead, finished_at=now)
    else:
        values.update(run_after=now + (delay if delay is not None else backoff(message.attempts)))
    session.execute(
        update(OutboxMessage).where(_still_mine(message.id, worker_id)).values(**values)  # type: ignore[arg-type]
    )
    return OutboxStatus.dead if dead else OutboxStatus.pending


def failure_values(
    message: OutboxMessage,
    reason: str,
    *,
    delay: dt.timedelta | None,
    permanent: bool,
    max_attempts: int,
    now: dt.datetime,
) -> dict[str, object]:
    """The columns :func:`mark_failed` sets (for one row of a batch)."""
    dead = permanent or message.attempts >= max_attempts
    values: dict[str, object] = {
        "last_error": reason[:4000],
        "locked_until": None,
        "status": OutboxStatus.dead if dead else OutboxStatus.pending,
        "finished_at": now if dead else None,
        "run_after": message.run_after
        if dead
        else now + (delay if delay is not None else backoff(message.attempts)),
    }
    return values


def mark_batch(
    session: Session,
    worker_id: str,
    done: Sequence[str],
    failed: Sequence[tuple[str, dict[str, object]]],
) -> None:
    """Finish many claimed rows in one go (rows whose lease was lost are left alone)."""
    now = clock.now()
    if done:
        session.execute(
            update(OutboxMessage)
            .where(
                OutboxMessage.id.in_(done),
                OutboxMessage.locked_by == worker_id,
                OutboxMessage.status == OutboxStatus.pending,
            )
            .values(status=OutboxStatus.done, finished_at=now, locked_until=None, last_error=None)
        )
    if failed:
        table = OutboxMessage.__table__
        assert isinstance(table, Table)
        statement = (
            update(table)
            .where(
                table.c.id == bindparam("row_id"),
                table.c.locked_by == worker_id,
                table.c.status == OutboxStatus.pending,
            )
            .values(
                status=bindparam("new_status"),
                finished_at=bindparam("new_finished_at"),
                run_after=bindparam("new_run_after"),
                last_error=bindparam("new_last_error"),
                locked_until=None,
            )
        )
        session.connection().execute(
            statement,
            [
                {
                    "row_id": row_id,
                    "new_status": values["status"],
                    "new_finished_at": values["finished_at"],
                    "new_run_after": values["run_after"],
                    "new_last_error": values["last_error"],
                }
                for row_id, values in failed
            ],
        )


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
    started are handed back (:func:`release`) and only the side effects already under way
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
        self.lease = dt.timedelta(seconds=runtime.settings.outbox_lease_seconds)
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
            batch = claim(
                session,
                owner,
                limit=self.batch_size,
                kinds=set(self.handlers),
                lease=self.lease,
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
                released = release(session, unstarted, owner)
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

    def dispatch(self, message: OutboxMessage, owner: str | None = None) -> None:
        owner = owner or message.locked_by or self.worker_id
        try:
            self._dispatch(message, owner)
        finally:
            self.leases.drop([message.id])

    def _dispatch(self, message: OutboxMessage, owner: str) -> None:
        handler = self.handlers[message.kind]
        database = self.runtime.database
        limit = self.max_attempts.get(message.kind, DEFAULT_MAX_ATTEMPTS)
        try:
            handler(self.job(message, owner))
        except Withheld:
            with database.unit_of_work(durable=False) as session:
                release(session, [message.id], owner)
            return
        except RetryLater as retry:
            with database.unit_of_work(durable=False) as session:
                state = mark_failed(
                    session,
                    message,
                    owner,
                    retry.reason,
                    delay=retry.delay,
                    permanent=False,
                    max_attempts=limit,
                )
            log.info(
                "outbox.retry", id=message.id, kind=message.kind, state=state, reason=retry.reason
            )
            return
        except GiveUp as gave_up:
            with database.unit_of_work(durable=False) as session:
                mark_failed(
                    session,
                    message,
                    owner,
                    str(gave_up),
                    delay=None,
                    permanent=True,
                    max_attempts=limit,
                )
            log.warning("outbox.dead", id=message.id, kind=message.kind, reason=str(gave_up))
            return
        except Exception as error:
            with database.unit_of_work(durable=False) as session:
                state = mark_failed(
                    session,
                    message,
                    owner,
                    "".join(traceback.format_exception_only(error)).strip(),
                    delay=None,
                    permanent=False,
                    max_attempts=limit,
                )
            log.exception("outbox.handler_error", id=message.id, kind=message.kind, state=state)
            return
        with database.unit_of_work(durable=False) as session:
            mark_done(session, message.id, owner)

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
            failure = BatchResult(dict.fromkeys((m.id for m in mine), error))
            return StartedChunk(mine, lambda: failure)

    def record_chunk(self, kind: str, chunk: StartedChunk | None, owner: str) -> None:
        """Wait for a started chunk's outcomes; record them all in one transaction, for the
        rows this claim still holds only."""
        if chunk is None:
            return
        handler = self.handlers[kind]
        assert isinstance(handler, Batched)
        database = self.runtime.database
        mine = chunk.messages
        try:
            result = chunk.finish()
        except Exception as error:
            result = BatchResult(dict.fromkeys((m.id for m in mine), error))
        limit = self.max_attempts.get(kind, DEFAULT_MAX_ATTEMPTS)
        now = clock.now()
        done: list[str] = []
        withheld: list[str] = []
        failed: list[tuple[str, dict[str, object]]] = []
        logs: dict[str, Callable[[], None]] = {}
        for message in mine:
            outcome = result.outcomes.get(message.id)
            if outcome is None:
                done.append(message.id)
                continue
            if isinstance(outcome, Withheld):
                withheld.append(message.id)
                continue
            if isinstance(outcome, RetryLater):
                reason, delay, permanent = outcome.reason, outcome.delay, False
            elif isinstance(outcome, GiveUp):
                reason, delay, permanent = str(outcome), None, True
            else:
                reason = "".join(traceback.format_exception_only(outcome)).strip()
                delay, permanent = None, False
            values = failure_values(
                message,
                reason,
                delay=delay,
                permanent=permanent,
                max_attempts=_NO_LIMIT
                if handler.gives_up_itself and isinstance(outcome, RetryLater)
                else limit,
                now=now,
            )
            failed.append((message.id, values))
            logs[message.id] = functools.partial(_log_failure, message.id, kind, outcome, values)
        try:
            with database.unit_of_work(durable=False) as session:
                held = still_held(session, [m.id for m in mine], owner)
                if result.record is not None:
                    result.record(session, held - set(withheld))
                mark_batch(
                    session,
                    owner,
                    [m for m in done if m in held],
                    [(m, values) for m, values in failed if m in held],
                )
                release(session, [m for m in withheld if m in held], owner)
        finally:
            self.leases.drop([m.id for m in mine])
        lost = {m.id for m in mine} - held
        if lost:
            log.warning("outbox.outcomes_not_recorded", kind=kind, owner=owner, rows=len(lost))
        for message_id, write_log in logs.items():
            if message_id in held:
                write_log()


def _log_failure(
    message_id: str, kind: str, outcome: BaseException, values: dict[str, object]
) -> None:
    if isinstance(outcome, GiveUp):
        log.warning("outbox.dead", id=message_id, kind=kind, reason=values["last_error"])
    elif isinstance(outcome, RetryLater):
        log.info(
            "outbox.retry",
            id=message_id,
            kind=kind,
            state=values["status"],
            reason=values["last_error"],
        )
    else:
        log.error(
            "outbox.handler_error",
            id=message_id,
            kind=kind,
            state=values["status"],
            error=values["last_error"],
        )
