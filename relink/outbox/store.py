"""The outbox's rows: written in the caller's transaction, claimed with a lease, renewed,
handed back and finished by the claim that holds them.

A claim leases a batch of due rows in one statement (``FOR UPDATE SKIP LOCKED`` on
PostgreSQL; on SQLite the statement runs under the single write lock). Every later write
of a claimed row is conditional on its owner (``locked_by``) and on the row being pending,
so a claim whose lease was lost, and then taken by another worker, writes nothing. None of
these functions commits: the caller's unit of work does.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Table, and_, bindparam, case, not_, select, update
from sqlalchemy.orm import Session

from relink.kit import clock, ids
from relink.kit.sql import insert_or_ignore
from relink.models import OutboxMessage, OutboxStatus
from relink.outbox.handlers import backoff
from relink.outbox.lease import Lease, free, held_by

# The longest error text kept on a row.
MAX_ERROR_LENGTH = 4000


def enqueue(
    session: Session,
    kind: str,
    payload: dict[str, Any],
    *,
    dedupe_key: str,
    platform_id: str | None = None,
    livemode: bool | None = None,
    run_after: dt.datetime | None = None,
) -> None:
    """Add a side effect to the outbox; a row with the same ``dedupe_key`` makes this a no-op."""
    now = clock.now()
    enqueue_many(
        session,
        [
            {
                "id": ids.new("obx"),
                "kind": kind,
                "payload": payload,
                "dedupe_key": dedupe_key,
                "platform_id": platform_id,
                "livemode": livemode,
                "status": OutboxStatus.pending,
                "attempts": 0,
                "run_after": run_after or now,
                "created_at": now,
            }
        ],
    )


def enqueue_many(session: Session, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    session.execute(insert_or_ignore(session, OutboxMessage, index_elements=["dedupe_key"]), rows)


def claim(
    session: Session,
    owner: str,
    *,
    lease: Lease,
    limit: int,
    kinds: set[str] | None = None,
    busy_lanes: Sequence[tuple[str, str, set[str]]] = (),
) -> list[OutboxMessage]:
    """Lease up to ``limit`` due rows to ``owner``, counting an attempt on each; rows of
    ``busy_lanes`` (kind, payload key, values) are left for later, or for another worker."""
    now = clock.now()
    due = (
        select(OutboxMessage.id)
        .where(
            OutboxMessage.status == OutboxStatus.pending,
            OutboxMessage.run_after <= now,
            free(OutboxMessage, now),
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
    message_ids = list(session.scalars(due))
    if not message_ids:
        return []
    session.execute(
        lease.take(OutboxMessage, owner, now)
        .where(OutboxMessage.id.in_(message_ids))
        .values(attempts=OutboxMessage.attempts + 1)
    )
    claimed = (
        select(OutboxMessage)
        .where(OutboxMessage.id.in_(message_ids))
        .order_by(OutboxMessage.run_after)
        .execution_options(populate_existing=True)
    )
    return list(session.scalars(claimed))


def _mine(message_ids: Sequence[str], owner: str) -> ColumnElement[bool]:
    return and_(
        OutboxMessage.id.in_(message_ids),
        held_by(OutboxMessage, owner),
        OutboxMessage.status == OutboxStatus.pending,
    )


def renew(session: Session, message_ids: Sequence[str], owner: str, lease: Lease) -> set[str]:
    """Extend ``owner``'s claim on rows by one lease from now; returns the ids still held
    (a row another worker took after its lease ran out is not)."""
    if not message_ids:
        return set()
    renewed = (
        lease.renew(OutboxMessage, owner, clock.now())
        .where(_mine(message_ids, owner))
        .returning(OutboxMessage.id)
    )
    return set(session.scalars(renewed))


def still_held(session: Session, message_ids: Sequence[str], owner: str) -> set[str]:
    """The rows of ``message_ids`` this claim still holds, locked until the transaction ends
    (so no other worker takes them between this check and the writes that follow)."""
    if not message_ids:
        return set()
    query = select(OutboxMessage.id).where(_mine(message_ids, owner))
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()
    return set(session.scalars(query))


def release(
    session: Session,
    message_ids: Sequence[str],
    owner: str,
    *,
    run_after: dt.datetime | None = None,
    reason: str | None = None,
) -> set[str]:
    """Hand rows back unstarted: their lease ends now and the claim's attempt is not
    counted, so another worker (or this one, later) takes them at once, or at
    ``run_after`` when the rows must wait (``reason`` says for what)."""
    if not message_ids:
        return set()
    values: dict[str, Any] = {
        "locked_until": None,
        "locked_by": None,
        "attempts": case((OutboxMessage.attempts > 0, OutboxMessage.attempts - 1), else_=0),
    }
    if run_after is not None:
        values["run_after"] = run_after
        values["last_error"] = reason
    released = (
        update(OutboxMessage)
        .where(_mine(message_ids, owner))
        .values(**values)
        .returning(OutboxMessage.id)
    )
    return set(session.scalars(released))


def wake(session: Session, which: ColumnElement[bool]) -> int:
    """Make the pending rows ``which`` selects that wait for later (postponed, or backing
    off) due now, unless a worker holds them; returns how many."""
    now = clock.now()
    woken = session.execute(
        update(OutboxMessage)
        .where(
            which,
            OutboxMessage.status == OutboxStatus.pending,
            OutboxMessage.run_after > now,
            free(OutboxMessage, now),
        )
        .values(run_after=now)
    )
    return int(woken.rowcount)  # type: ignore[attr-defined]


def finish(session: Session, message_ids: Sequence[str], owner: str) -> None:
    """Mark claimed rows done (rows whose lease was lost are left alone)."""
    if not message_ids:
        return
    session.execute(
        update(OutboxMessage)
        .where(_mine(message_ids, owner))
        .values(
            status=OutboxStatus.done, finished_at=clock.now(), locked_until=None, last_error=None
        )
    )


@dataclass(frozen=True)
class Failure:
    """A failed attempt at a claimed row: the row goes dead (the dead-letter state, for an
    operator to see), or runs again after ``delay`` (None: backoff from its attempts)."""

    message: OutboxMessage
    reason: str
    dead: bool
    delay: dt.timedelta | None = None

    @property
    def status(self) -> OutboxStatus:
        return OutboxStatus.dead if self.dead else OutboxStatus.pending


def _run_after(failure: Failure, now: dt.datetime) -> dt.datetime:
    if failure.dead:
        return failure.message.run_after
    if failure.delay is not None:
        return now + failure.delay
    return now + backoff(failure.message.attempts)


def fail(session: Session, failures: Sequence[Failure], owner: str) -> None:
    """Record failed attempts, in one statement for all of them (rows whose lease was
    lost are left alone): the one way a failure is written."""
    if not failures:
        return
    now = clock.now()
    table = OutboxMessage.__table__
    assert isinstance(table, Table)
    statement = (
        update(table)
        .where(
            table.c.id == bindparam("row_id"),
            table.c.locked_by == owner,
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
                "row_id": failure.message.id,
                "new_status": failure.status,
                "new_finished_at": now if failure.dead else None,
                "new_run_after": _run_after(failure, now),
                "new_last_error": failure.reason[:MAX_ERROR_LENGTH],
            }
            for failure in failures
        ],
    )
