"""Inferred balances: an account's end-of-day balances, worked back from the balance the
bank reports now through the posted transactions since (Stripe's
``financial_connections.account_inferred_balance``).

Today's entry is the bank's own snapshot (its ``as_of``); each earlier day ends at
23:59:59 UTC, as Stripe's are. A day is listed when its balance differs from the day
before it (the oldest day of the window always is): a gap means no change.
"""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass

from sqlalchemy import delete
from sqlalchemy.orm import Session as DbSession

from relink.connectors.base import Balance, Transaction
from relink.kit import ids
from relink.models import Account, AccountInferredBalance
from relink.tenancy import Scope

END_OF_DAY = dt.time(23, 59, 59, tzinfo=dt.UTC)


@dataclass(frozen=True)
class DailyBalance:
    as_of: dt.datetime
    current: dict[str, int]


def infer_daily_balances(
    balance: Balance, transactions: list[Transaction], *, since: dt.datetime
) -> list[DailyBalance]:
    """Oldest first: the end-of-day balances from ``since``'s day to the snapshot's day."""
    posted = sorted(
        (t for t in transactions if t.status == "posted"),
        key=lambda t: t.posted_at or t.transacted_at,
        reverse=True,
    )
    snapshot_day = balance.as_of.astimezone(dt.UTC).date()
    first_day = min(since.astimezone(dt.UTC).date(), snapshot_day)
    running = dict(balance.current)
    newest_first = [DailyBalance(balance.as_of, dict(running))]
    pending = iter(posted)
    upcoming = next(pending, None)
    day = snapshot_day - dt.timedelta(days=1)
    while day >= first_day:
        end = dt.datetime.combine(day, END_OF_DAY)
        # Undo what was posted after this day ended (and up to the snapshot).
        while upcoming is not None and (upcoming.posted_at or upcoming.transacted_at) > end:
            if (upcoming.posted_at or upcoming.transacted_at) <= balance.as_of:
                running[upcoming.currency] = running.get(upcoming.currency, 0) - upcoming.amount
            upcoming = next(pending, None)
        newest_first.append(DailyBalance(end, dict(running)))
        day -= dt.timedelta(days=1)
    oldest_first = list(reversed(newest_first))
    kept = [oldest_first[0]]
    for previous, entry in itertools.pairwise(oldest_first):
        if entry.current != previous.current or entry is oldest_first[-1]:
            kept.append(entry)
    return kept


def store_inferred_balances(
    db: DbSession, scope: Scope, account: Account, balances: list[DailyBalance]
) -> None:
    """Replace the account's inferred balances (ids in day order: newest last)."""
    db.execute(
        delete(AccountInferredBalance).where(
            AccountInferredBalance.account_id == account.id,
            AccountInferredBalance.platform_id == scope.platform_id,
            AccountInferredBalance.livemode == scope.livemode,
        )
    )
    db.add_all(
        AccountInferredBalance(
            id=ids.new("fcib"),
            platform_id=scope.platform_id,
            livemode=scope.livemode,
            account_id=account.id,
            as_of=entry.as_of,
            current=entry.current,
        )
        for entry in balances
    )
