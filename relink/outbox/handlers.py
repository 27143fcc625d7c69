"""The contract between the outbox and its handlers: what a handler is given, what it
may answer, and how it asks for rows to be batched or run in lanes.

Handlers (each package's ``tasks.py``) import this module and :func:`relink.outbox.store.enqueue`,
never the dispatcher that runs them.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy.orm import Session

from relink.models import OutboxMessage
from relink.runtime import Runtime

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


class Withheld(Exception):
    """The row's side effect was not started (its lease was lost or the worker is
    stopping): nothing is recorded and the row is handed back."""


class Postponed(Exception):
    """The row's side effect must wait for something outside Relink (a bank that is down):
    it was not attempted, so the claim's attempt is not counted and the row runs again
    after ``delay``. Unlike :class:`Withheld`, the handler's writes are recorded (the row
    was this worker's to decide about)."""

    def __init__(self, reason: str, *, delay: dt.timedelta) -> None:
        super().__init__(reason)
        self.reason = reason
        self.delay = delay


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
