"""Claiming and dispatching outbox rows.

A claim is a lease: the worker sets ``locked_until`` on a batch of due rows in one
statement (``FOR UPDATE SKIP LOCKED`` on PostgreSQL; on SQLite the statement runs under
the single write lock). A worker killed mid-batch leaves rows whose lease expires, and
another worker takes them again, so nothing is lost; handlers are idempotent or
dedupe by the row id, so a replay never produces a second distinct side effect.
"""

from __future__ import annotations

import datetime as dt
import os
import random
import socket
import traceback
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import structlog
from sqlalchemy import Table, and_, bindparam, or_, select, update
from sqlalchemy.orm import Session

from relink.kit import clock
from relink.models import OutboxMessage, OutboxStatus
from relink.runtime import Runtime

log = structlog.get_logger("relink.outbox")

LEASE = dt.timedelta(seconds=60)
BASE_DELAY = dt.timedelta(seconds=10)
MAX_DELAY = dt.timedelta(hours=6)
DEFAULT_MAX_ATTEMPTS = 12


class RetryLater(Exception):
    """Transient failure: try again after ``delay`` (or the default backoff)."""

    def __init__(self, reason: str, *, delay: dt.timedelta | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.delay = delay


class GiveUp(Exception):
    """Permanent failure: the row goes to the dead-letter state, visible to operators."""


@dataclass(frozen=True)
class Job:
    runtime: Runtime
    message: OutboxMessage
    worker_id: str


Handler = Callable[[Job], None]

# What became of one row of a batch: None when it is done, else what the single-row
# handler would have raised (RetryLater, GiveUp or any other exception: a retry).
Outcome = BaseException | None


@dataclass(frozen=True)
class BatchResult:
    """The outcome of every row of a batch, and the writes that record them.

    ``record`` runs in the same transaction as the rows' outbox bookkeeping, so a batch's
    results and its rows' statuses commit together.
    """

    outcomes: dict[str, Outcome]
    record: Callable[[Session], None] | None = None


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

    def __call__(self, job: Job) -> None:
        self.single(job)


@dataclass(frozen=True)
class Laned:
    """A handler whose rows of one batch run concurrently, one lane per ``lane(message)``.

    Rows of one lane run one after another, in order; lanes run at once (up to the
    dispatcher's ``lanes``). Webhook deliveries have a lane per endpoint: a slow or
    unreachable endpoint holds up only its own deliveries, and no receiver gets more than
    one request from a worker at a time.
    """

    handler: Handler
    lane: Callable[[OutboxMessage], str]

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
    return f"{socket.gethostname()}:{os.getpid()}:{random.randrange(1 << 30):x}"


def claim(
    session: Session,
    worker_id: str,
    *,
    limit: int,
    kinds: set[str] | None = None,
    lease: dt.timedelta = LEASE,
) -> list[OutboxMessage]:
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
    """Extend this worker's claim on a row; False if the claim was lost."""
    now = clock.now()
    result = session.execute(
        update(OutboxMessage)
        .where(_still_mine(message_id, worker_id), OutboxMessage.locked_until > now)  # type: ignore[arg-type]
        .values(locked_until=now + lease)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


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
            OutboxMessage.locked_until > now,
        )
        .values(locked_until=now + lease)
        .returning(OutboxMessage.id)
    )
    return set(session.scalars(held))


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
    """Claims due rows and runs the registered handler of each."""

    def __init__(
        self,
        runtime: Runtime,
        handlers: dict[str, Handler],
        *,
        worker_id: str | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        max_attempts: dict[str, int] | None = None,
        lanes: int = DEFAULT_LANES,
    ) -> None:
        self.runtime = runtime
        self.handlers = handlers
        self.worker_id = worker_id or default_worker_id()
        self.batch_size = batch_size
        # Lanes of :class:`Laned` rows run at once (threads, each using its own connection).
        self.lanes = lanes
        self.max_attempts = max_attempts or {}

    def run_once(self) -> int:
        """Claim one batch and dispatch it; returns the number of rows handled."""
        with self.runtime.database.unit_of_work(durable=False) as session:
            batch = claim(
                session,
                self.worker_id,
                limit=self.batch_size,
                kinds=set(self.handlers),
                lease=dt.timedelta(seconds=self.runtime.settings.outbox_lease_seconds),
            )
        lease = dt.timedelta(seconds=self.runtime.settings.outbox_lease_seconds)
        batched: dict[str, list[OutboxMessage]] = {}
        for message in batch:
            if isinstance(self.handlers[message.kind], Batched):
                batched.setdefault(message.kind, []).append(message)
        for kind, messages in batched.items():
            self.dispatch_batch(kind, messages, lease)
        lanes: dict[tuple[str, str], list[OutboxMessage]] = {}
        for message in batch:
            handler = self.handlers[message.kind]
            if isinstance(handler, Laned):
                lanes.setdefault((message.kind, handler.lane(message)), []).append(message)
        if lanes:
            with ThreadPoolExecutor(
                min(self.lanes, len(lanes)), thread_name_prefix="relink-lane"
            ) as pool:
                for finished in [
                    pool.submit(self.dispatch_in_turn, rows, lease) for rows in lanes.values()
                ]:
                    finished.result()
        self.dispatch_in_turn(
            [m for m in batch if not isinstance(self.handlers[m.kind], Batched | Laned)], lease
        )
        return len(batch)

    def dispatch_in_turn(self, messages: list[OutboxMessage], lease: dt.timedelta) -> None:
        for message in messages:
            # Renew the claim right before the side effect: a row whose lease ran out
            # while earlier rows of the batch were handled may already be another
            # worker's, and must not be handled twice.
            with self.runtime.database.unit_of_work(durable=False) as session:
                if not renew_lease(session, message.id, self.worker_id, lease):
                    continue
            self.dispatch(message)

    def drain(self, *, max_rounds: int = 1000) -> int:
        total = 0
        for _ in range(max_rounds):
            handled = self.run_once()
            total += handled
            if handled == 0:
                break
        return total

    def dispatch(self, message: OutboxMessage) -> None:
        handler = self.handlers[message.kind]
        database = self.runtime.database
        limit = self.max_attempts.get(message.kind, DEFAULT_MAX_ATTEMPTS)
        try:
            handler(Job(self.runtime, message, self.worker_id))
        except RetryLater as retry:
            with database.unit_of_work(durable=False) as session:
                state = mark_failed(
                    session,
                    message,
                    self.worker_id,
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
                    self.worker_id,
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
                    self.worker_id,
                    "".join(traceback.format_exception_only(error)).strip(),
                    delay=None,
                    permanent=False,
                    max_attempts=limit,
                )
            log.exception("outbox.handler_error", id=message.id, kind=message.kind, state=state)
            return
        with database.unit_of_work(durable=False) as session:
            mark_done(session, message.id, self.worker_id)

    def dispatch_batch(self, kind: str, messages: list[OutboxMessage], lease: dt.timedelta) -> None:
        """Run a batch handler on rows of one kind, a chunk at a time: a chunk's outcomes
        are recorded once the next chunk has started (see :class:`Batched`)."""
        handler = self.handlers[kind]
        assert isinstance(handler, Batched)
        waiting: StartedChunk | None = None
        for start in range(0, len(messages), handler.chunk_size):
            started = self.start_chunk(handler, messages[start : start + handler.chunk_size], lease)
            if waiting is not None:
                self.record_chunk(kind, waiting)
            waiting = started
        if waiting is not None:
            self.record_chunk(kind, waiting)

    def start_chunk(
        self, handler: Batched, messages: list[OutboxMessage], lease: dt.timedelta
    ) -> StartedChunk | None:
        # One renewal for the whole chunk right before the side effects; a row whose
        # lease ran out meanwhile may already be another worker's and is left alone.
        with self.runtime.database.unit_of_work(durable=False) as session:
            held = renew_leases(session, [m.id for m in messages], self.worker_id, lease)
        mine = [m for m in messages if m.id in held]
        if not mine:
            return None
        jobs = [Job(self.runtime, message, self.worker_id) for message in mine]
        try:
            return StartedChunk(mine, handler.start(jobs))
        except Exception as error:
            failure = BatchResult(dict.fromkeys((m.id for m in mine), error))
            return StartedChunk(mine, lambda: failure)

    def record_chunk(self, kind: str, chunk: StartedChunk | None) -> None:
        """Wait for a started chunk's outcomes; record them all in one transaction."""
        if chunk is None:
            return
        database = self.runtime.database
        mine = chunk.messages
        try:
            result = chunk.finish()
        except Exception as error:
            result = BatchResult(dict.fromkeys((m.id for m in mine), error))
        limit = self.max_attempts.get(kind, DEFAULT_MAX_ATTEMPTS)
        now = clock.now()
        done: list[str] = []
        failed: list[tuple[str, dict[str, object]]] = []
        for message in mine:
            outcome = result.outcomes.get(message.id)
            if outcome is None:
                done.append(message.id)
                continue
            if isinstance(outcome, RetryLater):
                reason, delay, permanent = outcome.reason, outcome.delay, False
            elif isinstance(outcome, GiveUp):
                reason, delay, permanent = str(outcome), None, True
            else:
                reason = "".join(traceback.format_exception_only(outcome)).strip()
                delay, permanent = None, False
            values = failure_values(
                message, reason, delay=delay, permanent=permanent, max_attempts=limit, now=now
            )
            failed.append((message.id, values))
            if isinstance(outcome, GiveUp):
                log.warning("outbox.dead", id=message.id, kind=kind, reason=reason)
            elif isinstance(outcome, RetryLater):
                log.info(
                    "outbox.retry", id=message.id, kind=kind, state=values["status"], reason=reason
                )
            else:
                log.error(
                    "outbox.handler_error",
                    id=message.id,
                    kind=kind,
                    state=values["status"],
                    error=reason,
                )
        with database.unit_of_work(durable=False) as session:
            if result.record is not None:
                result.record(session)
            mark_batch(session, self.worker_id, done, failed)
