"""CSV export of the Accounts list: any filter, every matching account, streamed.

The export reads the list's own query (:func:`relink.accounts.filters.filtered_accounts`)
in keyset batches of :data:`BATCH`, in the list's order (newest first, or its sort), each batch one
statement in its own short read-only transaction: the holder, the bank's name, the
soonest TAN expiry, the newest hosted relink request and the eligibility (the rules' own
SQL, :func:`relink.eligibility.query.skip_reason`) are columns of that statement, so
nothing is loaded per account and memory stays flat however many accounts match. A
batch is turned into text and sent before the next is read.

Cells a spreadsheet would run as a formula (starting with ``=``, ``+``, ``-``, ``@``, a
tab or a carriage return) are written with a leading apostrophe (OWASP's CSV injection
advice): holder names and emails come from API callers.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterator
from typing import Any

from sqlalchemy import Select, func, select

from relink.accounts.filters import AccountFilter, AccountSort, filtered_accounts
from relink.dashboard.wording import REASON_LABELS
from relink.db import Database
from relink.eligibility.query import skip_reason
from relink.models import Account, AccountNumber, ConnectedAccount, Customer, Institution
from relink.models import Session as FcSession
from relink.tenancy import Scope, in_scope

BATCH = 1000
HEADER = (
    "id",
    "name",
    "last4",
    "institution",
    "status",
    "inactive_cause",
    "consent_expires",
    "tan_expires",
    "holder",
    "holder_email",
    "eligible",
    "not_eligible_because",
    "not_eligible_code",
    "last_request",
    "last_request_status",
    "last_request_created",
    "created",
)
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    text = str(value)
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def _columns(scope: Scope, now: dt.datetime) -> list[Any]:
    newest_request = (
        select(FcSession.id)
        .where(
            in_scope(FcSession, scope),
            FcSession.relink_account_id == Account.id,
            FcSession.delivery_method.is_not(None),
        )
        .order_by(FcSession.created_at.desc(), FcSession.id.desc())
        .limit(1)
        .correlate(Account)
        .scalar_subquery()
    )
    return [
        Account.id,
        Account.display_name,
        Account.last4,
        select(Institution.name)
        .where(Institution.id == Account.institution_id)
        .correlate(Account)
        .scalar_subquery(),
        Account.status,
        Account.inactive_cause,
        Account.expected_deactivation_at,
        select(func.min(AccountNumber.expected_expiry_at))
        .where(AccountNumber.account_id == Account.id)
        .correlate(Account)
        .scalar_subquery(),
        func.coalesce(Account.customer_id, Account.connected_account_id),
        func.coalesce(
            select(Customer.email)
            .where(Customer.id == Account.customer_id)
            .correlate(Account)
            .scalar_subquery(),
            select(ConnectedAccount.email)
            .where(ConnectedAccount.id == Account.connected_account_id)
            .correlate(Account)
            .scalar_subquery(),
        ),
        skip_reason(scope, now),
        newest_request.label("last_request"),
        Account.created_at,
    ]


def batch_statements(
    scope: Scope,
    now: dt.datetime,
    account_filter: AccountFilter,
    sort: AccountSort,
    after: tuple[Any, str] | None,
) -> list[Select[Any]]:
    """The statements of one batch, run in turn until :data:`BATCH` rows: the accounts
    after ``after`` (the last row's sort key and id) in the list's order."""
    order = sort.order()
    query = filtered_accounts(scope, now, account_filter).with_only_columns(
        *_columns(scope, now), (order.key if order is not None else Account.id).label("sort_key")
    )
    if order is not None:
        return order.statements(query, after)
    query = query.order_by(Account.id.desc())
    return [query if after is None else query.where(Account.id < after[1])]


def _requests(db: Any, ids: list[str]) -> dict[str, tuple[str, dt.datetime]]:
    """Status and creation time of these (already scoped) sessions."""
    if not ids:
        return {}
    rows = db.execute(
        select(FcSession.id, FcSession.status, FcSession.created_at).where(FcSession.id.in_(ids))
    )
    return {row.id: (row.status, row.created_at) for row in rows}


def _line(writer: Any, buffer: io.StringIO, values: Any) -> str:
    writer.writerow([_cell(value) for value in values])
    text = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    return text


def export_csv(
    database: Database,
    scope: Scope,
    now: dt.datetime,
    account_filter: AccountFilter,
    sort: AccountSort | None = None,
) -> Iterator[str]:
    """The CSV text of every account the filter matches, in the list's order, a batch at
    a time."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    yield _line(writer, buffer, HEADER)
    after: tuple[Any, str] | None = None
    while True:
        with database.read_only() as db:
            rows: list[Any] = []
            for statement in batch_statements(
                scope, now, account_filter, sort or AccountSort(), after
            ):
                rows.extend(db.execute(statement.limit(BATCH - len(rows))).all())
                if len(rows) >= BATCH:
                    break
            requests = _requests(db, [row.last_request for row in rows if row.last_request])
        lines = []
        for row in rows:
            *account, reason, last_request, created, _sort_key = row
            status, requested_at = requests.get(last_request, (None, None))
            lines.append(
                _line(
                    writer,
                    buffer,
                    (
                        *account,
                        "no" if reason else "yes",
                        REASON_LABELS.get(reason, reason) if reason else None,
                        reason,
                        last_request,
                        status,
                        requested_at,
                        created,
                    ),
                )
            )
        if lines:
            yield "".join(lines)
        if len(rows) < BATCH:
            return
        after = (rows[-1].sort_key, rows[-1].id)
