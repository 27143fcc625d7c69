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
from collections.abc import Callable
from dataclasses import dataclass

import structlog
from sqlalchemy import and_, or_, select, update
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


class OutboxDispatcher:
    """Claims due rows and runs the registered handler of each."""

    def __init__(
        self,
        runtime: Runtime,
        handlers: dict[str, Handler],
        *,
        worker_id: str | None = None,
        batch_size: int = 50,
        max_attempts: dict[str, int] | None = None,
    ) -> None:
        self.runtime = runtime
        self.handlers = handlers
        self.worker_id = worker_id or default_worker_id()
        self.batch_size = batch_size
        self.max_attempts = max_attempts or {}

    def run_once(self) -> int:
        """Claim one batch and dispatch it; returns the number of rows handled."""
        with self.runtime.database.unit_of_work() as session:
            batch = claim(
                session,
                self.worker_id,
                limit=self.batch_size,
                kinds=set(self.handlers),
                lease=dt.timedelta(seconds=self.runtime.settings.outbox_lease_seconds),
            )
        lease = dt.timedelta(seconds=self.runtime.settings.outbox_lease_seconds)
        for message in batch:
            # Renew the claim right before the side effect: a row whose lease ran out
            # while earlier rows of the batch were handled may already be another
            # worker's, and must not be handled twice.
            with self.runtime.database.unit_of_work() as session:
                if not renew_lease(session, message.id, self.worker_id, lease):
                    continue
            self.dispatch(message)
        return len(batch)

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
            with database.unit_of_work() as session:
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
            with database.unit_of_work() as session:
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
            with database.unit_of_work() as session:
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
        with database.unit_of_work() as session:
            mark_done(session, message.id, self.worker_id)
