"""What a bulk request would do, in SQL: the selection in scope, each account's skip
reason, counts by reason and keyset batches.

Apart from :mod:`relink.bulk_requests.service` (which writes), so that a dry run
(``relink request-relink --dry-run``, the dashboard's confirmation) imports only the
eligibility rules and the models, not the session, email and webhook machinery.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import ColumnElement, Select, case, exists, func, select
from sqlalchemy.orm import Session as DbSession

from relink.eligibility.query import skip_reason as account_skip_reason
from relink.models import Account, Platform
from relink.tenancy import Scope, in_scope

# Not an eligibility rule of one account but the platform's switch (dashboard Settings):
# while hosted relink is off, every selected account is skipped for this reason.
HOSTED_RELINK_DISABLED = "hosted_relink_disabled"
SKIP_MESSAGES: dict[str, str] = {
    HOSTED_RELINK_DISABLED: (
        "Hosted relink is turned off for this platform (Settings), so no relink emails are sent."
    ),
}


@dataclass
class BulkPreview:
    selected: int
    eligible: int
    # Reason code -> number of selected accounts skipped for it.
    skipped: dict[str, int]


def merge_counts(left: Mapping[str, int], right: Mapping[str, int]) -> dict[str, int]:
    merged = Counter(left)
    merged.update(right)
    return {reason: merged[reason] for reason in sorted(merged) if merged[reason]}


# -- SQL -------------------------------------------------------------------------------


def hosted_relink_off(scope: Scope) -> ColumnElement[bool]:
    # Uncorrelated: the database evaluates it once per statement, not per account.
    return exists().where(
        Platform.id == scope.platform_id, Platform.hosted_relink_enabled.is_(False)
    )


def skip_reason(scope: Scope, now: dt.datetime) -> ColumnElement[str | None]:
    """The account's skip reason code, or ``NULL`` when it is eligible: the platform's
    switch first, then the eligibility rules' (:func:`relink.eligibility.query.skip_reason`)."""
    return case(
        (hosted_relink_off(scope), HOSTED_RELINK_DISABLED), else_=account_skip_reason(scope, now)
    )


def scoped(scope: Scope, accounts: Select[Account]) -> Select[Account]:
    """The selection limited to the scope, without ordering (callers key by id)."""
    return accounts.where(in_scope(Account, scope)).order_by(None)


def in_id_range(
    accounts: Select[Account], after: str | None, through: str | None
) -> Select[Account]:
    if after is not None:
        accounts = accounts.where(Account.id > after)
    if through is not None:
        accounts = accounts.where(Account.id <= through)
    return accounts


def count_selected(db: DbSession, scope: Scope, accounts: Select[Account]) -> int:
    ids_ = scoped(scope, accounts).with_only_columns(Account.id).subquery()
    return int(db.scalar(select(func.count()).select_from(ids_)) or 0)


def count_by_reason(
    db: DbSession,
    scope: Scope,
    now: dt.datetime,
    accounts: Select[Account],
    *,
    after: str | None = None,
    through: str | None = None,
) -> dict[str | None, int]:
    """How many selected accounts (in the id range) have each skip reason; None = eligible."""
    reasons = (
        in_id_range(scoped(scope, accounts), after, through)
        .with_only_columns(skip_reason(scope, now).label("reason"))
        .subquery()
    )
    rows = db.execute(select(reasons.c.reason, func.count()).group_by(reasons.c.reason))
    return {reason: int(count) for reason, count in rows}


def next_batch_end(
    db: DbSession, scope: Scope, accounts: Select[Account], after: str | None, size: int
) -> str | None:
    """The id of the last account of the next keyset batch after ``after`` (None: done)."""
    batch = (
        in_id_range(scoped(scope, accounts), after, None)
        .with_only_columns(Account.id)
        .order_by(Account.id)
        .limit(size)
        .subquery()
    )
    end: str | None = db.scalar(select(func.max(batch.c.id)))
    return end


def preview_bulk_request(
    db: DbSession, scope: Scope, now: dt.datetime, accounts: Select[Account]
) -> BulkPreview:
    """How many emails a bulk request would send, and how many accounts it would skip why."""
    counts = count_by_reason(db, scope, now, accounts)
    eligible = counts.pop(None, 0)
    skipped = {str(reason): count for reason, count in sorted(counts.items(), key=str)}
    return BulkPreview(
        selected=eligible + sum(skipped.values()), eligible=eligible, skipped=skipped
    )
