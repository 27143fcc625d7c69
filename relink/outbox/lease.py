"""Leases: how one worker at a time holds a row (an outbox row, a scheduled scan, a bulk
relink job).

A leased row has an owner (``locked_by``) and a deadline (``locked_until``). A row is
free when nobody holds it or its deadline has passed; taking it writes the owner and a
deadline one lease ahead, and renewing or giving it up is conditional on the owner. The
owner is the fence: a row whose lease ran out but that nobody took since is still its
owner's, and a row another worker took carries that worker's owner, so the first worker's
renewals and writes no longer match it.

Every lease lasts ``RELINK_OUTBOX_LEASE_SECONDS``: it bounds how soon work of a crashed
worker is taken over, and whoever holds a row longer renews it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import ColumnElement, Update, or_, update

from relink.config import Settings
from relink.models import BulkRelinkJob, OutboxMessage, ScheduledScan

# The tables whose rows are leased (each has ``locked_by`` and ``locked_until``).
Leased = type[OutboxMessage] | type[ScheduledScan] | type[BulkRelinkJob]


@dataclass(frozen=True)
class Lease:
    duration: dt.timedelta

    @classmethod
    def of(cls, settings: Settings) -> Lease:
        return cls(dt.timedelta(seconds=settings.outbox_lease_seconds))

    def deadline(self, now: dt.datetime) -> dt.datetime:
        """When a lease taken or renewed at ``now`` runs out."""
        return now + self.duration

    def take(self, table: Leased, owner: str, now: dt.datetime, *, again: bool = False) -> Update:
        """An UPDATE that leases the rows it matches to ``owner`` if they are free (or,
        with ``again``, already ``owner``'s); the caller adds which rows."""
        takeable = free(table, now)
        if again:
            takeable = or_(takeable, held_by(table, owner))
        return (
            update(table)
            .where(takeable)
            .values(locked_by=owner, locked_until=self.deadline(now))
            .execution_options(synchronize_session=False)
        )

    def renew(self, table: Leased, owner: str, now: dt.datetime) -> Update:
        """An UPDATE that pushes the deadline of ``owner``'s rows one lease past ``now``."""
        return (
            update(table)
            .where(held_by(table, owner))
            .values(locked_until=self.deadline(now))
            .execution_options(synchronize_session=False)
        )


def free(table: Leased, now: dt.datetime) -> ColumnElement[bool]:
    """Nobody holds the row: it was never leased, was given up, or its lease ran out."""
    return or_(table.locked_until.is_(None), table.locked_until < now)


def held_by(table: Leased, owner: str) -> ColumnElement[bool]:
    """The row is ``owner``'s: nobody took it from them since they leased it."""
    return table.locked_by == owner


def release(table: Leased, owner: str) -> Update:
    """An UPDATE that gives up ``owner``'s rows: free at once for any worker."""
    return (
        update(table)
        .where(held_by(table, owner))
        .values(locked_by=None, locked_until=None)
        .execution_options(synchronize_session=False)
    )
