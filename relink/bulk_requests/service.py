"""Bulk hosted relink requests: one hosted email session per eligible selected account.

The dashboard's "Request relink", ``relink request-relink`` and the background job all
run :func:`request_batch` over keyset batches of the selection (ordered by account
id), so memory stays constant however many accounts are selected:

1. count the batch's accounts by skip reason, in SQL (``NULL`` = eligible);
2. read the eligible accounts' few columns (one batch of tuples, no ORM objects);
3. cancel their pending hosted sessions (superseded, with events — rare, so per row);
4. insert the sessions with one multi-row ``INSERT … ON CONFLICT DO NOTHING
   RETURNING``: the partial unique index ``uq_sessions_pending_hosted_account`` lets
   one pending hosted session per account in, so concurrent requests never create two;
5. bundle the inserted sessions of each holder with more than one
   (:mod:`relink.sessions.bundles`): one bundle row, its sessions' ``bundle_id``;
6. insert the timeline rows (``created``, ``email_queued``) of the sessions that were
   inserted, and the outbox rows: one relink email per session on its own, one bundle
   email per bundle.

Each session has exactly the columns :meth:`SessionService.create` would give it.
The skip reason of an account is the most telling of the reasons the single-account
service gives (:data:`relink.eligibility.query.REASON_PRIORITY`): both come from the
same rules, so counts here and reasons there agree.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import (
    Select,
    Table,
    bindparam,
    select,
    text,
    update,
)
from sqlalchemy.orm import Session as DbSession

from relink.accounts.filters import (
    AccountFilter,
    InvalidFilter,
    filtered_accounts,
    selected_accounts,
)
from relink.bulk_requests.limits import DEFAULT_BATCH_SIZE
from relink.bulk_requests.preview import (
    count_by_reason,
    count_selected,
    in_id_range,
    merge_counts,
    next_batch_end,
    scoped,
    skip_reason,
)
from relink.eligibility.relink_reason import relink_reason_column
from relink.eligibility.rules import Reason
from relink.kit import clock, ids
from relink.kit.crypto import token_digest
from relink.kit.errors import ApiError, ResourceMissing
from relink.kit.provenance import EventContext
from relink.kit.sql import insert_or_ignore
from relink.models import (
    Account,
    BulkJobStatus,
    BulkRelinkJob,
    OutboxStatus,
    RelinkBundle,
    Session,
    SessionStatus,
    SessionTimelineEntry,
    TimelineKind,
)
from relink.outbox.store import enqueue, enqueue_many
from relink.runtime import Runtime
from relink.sessions.bundles import BUNDLE_PREFIX, RELINK_BUNDLE_EMAIL, bundle_token
from relink.sessions.repository import SessionRepository
from relink.sessions.service import RELINK_EMAIL, SessionService
from relink.tenancy import Scope, ScopedRepository, in_scope

# Ids per IN (…) when reading inserted sessions back (well under SQLite's variable limit).
ID_LOOKUP_CHUNK = 2000

Progress = Callable[[int, int], None]


@dataclass
class BulkResult:
    created: int = 0
    skipped: dict[str, int] = field(default_factory=dict)

    @property
    def processed(self) -> int:
        return self.created + sum(self.skipped.values())

    def add(self, other: BulkResult) -> None:
        self.created += other.created
        self.skipped = merge_counts(self.skipped, other.skipped)


# -- writing ---------------------------------------------------------------------------


def _insert_sessions(db: DbSession, rows: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """Insert sessions, skipping accounts that already have a pending hosted one (the
    partial unique index decides); returns (session id, account id) of the inserted."""
    if not rows:  # pragma: no cover - a concurrent request took them all since counting
        return []
    table = cast(Table, Session.__table__)
    statement = insert_or_ignore(
        db,
        table,
        index_elements=[table.c.relink_account_id],
        # Literal (not bound) so PostgreSQL can match the partial index's predicate.
        index_where=text("status = 'pending' AND ui_mode = 'hosted'"),
    )
    # A plain executemany (pipelined on PostgreSQL) is much faster than a multi-row
    # INSERT … RETURNING; the few rows a conflict skipped are found by reading back.
    db.execute(statement, rows)
    inserted: list[tuple[str, str]] = []
    for start in range(0, len(rows), ID_LOOKUP_CHUNK):
        chunk = [row["id"] for row in rows[start : start + ID_LOOKUP_CHUNK]]
        inserted.extend(
            (session_id, account_id)
            for session_id, account_id in db.execute(
                select(table.c.id, table.c.relink_account_id).where(table.c.id.in_(chunk))
            )
        )
    return inserted


def _mark_requested(db: DbSession, scope: Scope, account_ids: list[str], now: dt.datetime) -> None:
    """The accounts' newest relink request is now (the Accounts list sorts by it)."""
    for start in range(0, len(account_ids), ID_LOOKUP_CHUNK):
        db.execute(
            update(Account)
            .where(
                in_scope(Account, scope),
                Account.id.in_(account_ids[start : start + ID_LOOKUP_CHUNK]),
            )
            .values(last_relink_request_at=now)
        )


HolderKey = tuple[str, str | None, str | None]


def _bundle(
    db: DbSession,
    scope: Scope,
    runtime: Runtime,
    inserted: list[tuple[str, str]],
    holders: Mapping[str, HolderKey],
    now: dt.datetime,
) -> dict[str, str]:
    """Bundle the inserted sessions of each holder who has more than one (across
    authorizations and banks); returns the bundle id of each bundled session."""
    by_holder: dict[HolderKey, list[str]] = {}
    for session_id, account_id in inserted:
        holder = holders[account_id]
        if holder[1] is not None or holder[2] is not None:
            by_holder.setdefault(holder, []).append(session_id)
    bundle_rows: list[dict[str, Any]] = []
    bundle_of: dict[str, str] = {}
    for (holder_type, customer_id, connected_account_id), session_ids in by_holder.items():
        if len(session_ids) < 2:
            continue
        bundle_id = ids.new(BUNDLE_PREFIX)
        bundle_rows.append(
            {
                "id": bundle_id,
                "platform_id": scope.platform_id,
                "livemode": scope.livemode,
                "holder_type": holder_type,
                "customer_id": customer_id,
                "connected_account_id": connected_account_id,
                "link_token_digest": token_digest(bundle_token(runtime, bundle_id)),
                "created_at": now,
            }
        )
        bundle_of.update(dict.fromkeys(session_ids, bundle_id))
    if bundle_rows:
        db.execute(cast(Table, RelinkBundle.__table__).insert(), bundle_rows)
        table = cast(Table, Session.__table__)
        db.execute(
            table.update()
            .where(table.c.id == bindparam("session"))
            .values(bundle_id=bindparam("bundle"))
            .execution_options(synchronize_session=False),
            [
                {"session": session_id, "bundle": bundle_id}
                for session_id, bundle_id in bundle_of.items()
            ],
        )
    return bundle_of


def _email_row(
    scope: Scope, kind: str, payload: dict[str, Any], dedupe_key: str, queued_at: dt.datetime
) -> dict[str, Any]:
    return {
        "id": ids.new("obx"),
        "kind": kind,
        "payload": payload,
        "dedupe_key": dedupe_key,
        "platform_id": scope.platform_id,
        "livemode": scope.livemode,
        "status": OutboxStatus.pending.value,
        "attempts": 0,
        # The worker's schedule runs on real time: a sandbox clock moved ahead
        # changes what the rules see, never when the email goes out.
        "run_after": queued_at,
        "created_at": queued_at,
    }


def _supersede(
    db: DbSession,
    scope: Scope,
    runtime: Runtime,
    account_ids: set[str],
    after: str | None,
    through: str,
) -> None:
    """Cancel the pending hosted sessions of these accounts (superseded), as
    :meth:`SessionService.create` does before creating a new one."""
    sessions = SessionRepository(db, scope)
    query = sessions.select().where(
        Session.status == SessionStatus.pending,
        Session.ui_mode == "hosted",
        Session.relink_account_id.is_not(None),
    )
    # The range keeps this an index range scan of the (partial) pending-hosted index.
    if after is not None:
        query = query.where(Session.relink_account_id > after)
    query = query.where(Session.relink_account_id <= through)
    pending = [
        old
        for old in db.scalars(query.order_by(Session.relink_account_id).with_for_update())
        if old.relink_account_id in account_ids
    ]
    if not pending:
        return
    service = SessionService(db, scope, runtime, EventContext())
    for old in pending:
        service.finish(
            old,
            SessionStatus.cancelled,
            failure_reason="no_authorization",
            cancelled_reason="other",
            superseded=True,
        )
    db.flush()


def request_batch(
    db: DbSession,
    scope: Scope,
    runtime: Runtime,
    accounts: Select[Account],
    *,
    after: str | None,
    through: str,
    actor: str,
    now: dt.datetime,
    job_id: str | None = None,
) -> BulkResult:
    """Request relinks for the selected accounts with ``after < id <= through``."""
    counts = count_by_reason(db, scope, now, accounts, after=after, through=through)
    eligible_count = counts.pop(None, 0)
    skipped = {str(reason): count for reason, count in counts.items()}
    if not eligible_count:
        return BulkResult(0, merge_counts({}, skipped))

    eligible = db.execute(
        in_id_range(scoped(scope, accounts), after, through)
        .with_only_columns(
            Account.id,
            Account.authorization_id,
            Account.holder_type,
            Account.customer_id,
            Account.connected_account_id,
            Account.permissions,
            relink_reason_column().label("relink_reason"),
        )
        .where(skip_reason(scope, now).is_(None))
        .order_by(Account.id)
    ).all()
    _supersede(db, scope, runtime, {row.id for row in eligible}, after, through)

    session_rows = []
    for row in eligible:
        session_id = ids.new("fcsess")
        session_rows.append(
            {
                "id": session_id,
                "platform_id": scope.platform_id,
                "livemode": scope.livemode,
                "holder_type": row.holder_type,
                "customer_id": row.customer_id,
                "connected_account_id": row.connected_account_id,
                "client_secret_digest": token_digest(runtime.client_secret(session_id)),
                "permissions": list(row.permissions or []),
                "prefetch": [],
                "filters": None,
                "limits": None,
                "return_url": None,
                "ui_mode": "hosted",
                "delivery_method": "email",
                "hosted_return_url": None,
                "relink_authorization_id": row.authorization_id,
                "relink_account_id": row.id,
                "status": SessionStatus.pending.value,
                "collected_account_ids": [],
                "link_token_digest": token_digest(runtime.link_token(session_id)),
                "created_by": actor,
                "relink_reason": row.relink_reason,
                "created_at": now,
                "updated_at": now,
            }
        )
    inserted = _insert_sessions(db, session_rows)
    del session_rows
    _mark_requested(db, scope, [account_id for _session_id, account_id in inserted], now)
    holders = {
        row.id: (row.holder_type, row.customer_id, row.connected_account_id) for row in eligible
    }
    bundle_of = _bundle(db, scope, runtime, inserted, holders, now)

    created_detail: dict[str, Any] = {"by": actor}
    if job_id is not None:
        created_detail["bulk_job"] = job_id
    timeline_rows: list[dict[str, Any]] = []
    outbox_rows: list[dict[str, Any]] = []
    queued_at = clock.now()
    for session_id, _account_id in inserted:
        bundle_id = bundle_of.get(session_id)
        timeline_rows.append(
            {
                "id": ids.new("tl"),
                "session_id": session_id,
                "kind": TimelineKind.created.value,
                "at": now,
                "detail": created_detail
                if bundle_id is None
                else {**created_detail, "bundle": bundle_id},
            }
        )
        timeline_rows.append(
            {
                "id": ids.new("tl"),
                "session_id": session_id,
                "kind": TimelineKind.email_queued.value,
                "at": now,
                "detail": {} if bundle_id is None else {"bundle": bundle_id},
            }
        )
        if bundle_id is None:
            outbox_rows.append(
                _email_row(
                    scope,
                    RELINK_EMAIL,
                    {"session_id": session_id},
                    f"email:relink:{session_id}",
                    queued_at,
                )
            )
    for bundle_id in sorted(set(bundle_of.values())):
        outbox_rows.append(
            _email_row(
                scope,
                RELINK_BUNDLE_EMAIL,
                {"bundle_id": bundle_id},
                f"email:bundle:{bundle_id}",
                queued_at,
            )
        )
    if timeline_rows:
        db.execute(cast(Table, SessionTimelineEntry.__table__).insert(), timeline_rows)
    enqueue_many(db, outbox_rows)

    # An eligible account whose session was not inserted got a pending hosted session
    # from a concurrent request in the meantime.
    raced = eligible_count - len(inserted)
    if raced:
        skipped[Reason.recent_request.value] = skipped.get(Reason.recent_request.value, 0) + raced
    return BulkResult(len(inserted), merge_counts({}, skipped))


def request_relinks(
    db: DbSession,
    scope: Scope,
    runtime: Runtime,
    accounts: Select[Account],
    *,
    actor: str,
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: Progress | None = None,
) -> BulkResult:
    """Create one hosted email relink session per eligible account of the selection.

    Runs in the caller's transaction (never commits); batches keep memory constant.
    ``progress(processed, total)`` is called after each batch.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    total = count_selected(db, scope, accounts) if progress is not None else 0
    result = BulkResult()
    after: str | None = None
    while True:
        through = next_batch_end(db, scope, accounts, after, batch_size)
        if through is None:
            break
        result.add(
            request_batch(
                db,
                scope,
                runtime,
                accounts,
                after=after,
                through=through,
                actor=actor,
                now=scope.now(),
            )
        )
        after = through
        if progress is not None:
            progress(result.processed, max(total, result.processed))
    return result


# -- background jobs ---------------------------------------------------------------------

BULK_REQUEST = "relink.bulk_request"
MAX_SELECTED_IDS = 10_000


class BulkSelectionInvalid(ApiError):
    """A selection that is neither a list of account ids nor an account filter."""

    code = "parameter_invalid"


def normalize_selection(selection: Mapping[str, Any]) -> dict[str, Any]:
    """``{"account_ids": [...]}`` or ``{"filter": AccountFilter.to_dict()}``, checked."""
    if set(selection) == {"account_ids"}:
        account_ids = selection["account_ids"]
        if not isinstance(account_ids, list) or not all(
            isinstance(account_id, str) for account_id in account_ids
        ):
            raise BulkSelectionInvalid("account_ids must be a list of account ids.")
        if not account_ids:
            raise BulkSelectionInvalid("Select at least one account.")
        if len(account_ids) > MAX_SELECTED_IDS:
            raise BulkSelectionInvalid(
                f"Select at most {MAX_SELECTED_IDS} accounts by id; use a filter for more."
            )
        return {"account_ids": sorted(set(account_ids))}
    if set(selection) == {"filter"} and isinstance(selection["filter"], Mapping):
        try:
            return {"filter": AccountFilter.from_dict(selection["filter"]).check().to_dict()}
        except InvalidFilter as refused:
            raise BulkSelectionInvalid(str(refused), param=f"filter[{refused.field}]") from None
    raise BulkSelectionInvalid(
        'A selection is {"account_ids": [...]} or {"filter": {...}}.', param="selection"
    )


def selection_accounts(
    scope: Scope, now: dt.datetime, selection: Mapping[str, Any]
) -> Select[Account]:
    """The accounts a (normalized) job selection means, at ``now``."""
    if "account_ids" in selection:
        return selected_accounts(scope, list(selection["account_ids"]))
    return filtered_accounts(scope, now, AccountFilter.from_dict(selection["filter"]))


def enqueue_bulk_request(
    db: DbSession, scope: Scope, *, selection: dict[str, Any], actor: str, dedupe_key: str
) -> BulkRelinkJob:
    """Queue a bulk request job (and its outbox row) in the caller's transaction.

    A second call with the same ``dedupe_key`` (a double submit of one form, even at
    the same moment) returns the first job and queues nothing.
    """
    normalized = normalize_selection(selection)
    existing = _job_by_dedupe_key(db, scope, dedupe_key)
    if existing is not None:
        return existing
    now = scope.now()
    job_id = ids.new("bulkjob")
    statement = (
        insert_or_ignore(
            db,
            BulkRelinkJob.__table__,
            index_elements=["platform_id", "livemode", "dedupe_key"],
        )
        .values(
            id=job_id,
            platform_id=scope.platform_id,
            livemode=scope.livemode,
            status=BulkJobStatus.queued.value,
            selection=normalized,
            processed=0,
            created=0,
            skipped={},
            created_by=actor,
            dedupe_key=dedupe_key,
            created_at=now,
        )
        .returning(BulkRelinkJob.__table__.c.id)
    )
    inserted = db.execute(statement).scalar()
    job = _job_by_dedupe_key(db, scope, dedupe_key)
    assert job is not None
    if inserted is not None:
        enqueue(
            db,
            BULK_REQUEST,
            {"job_id": job.id},
            dedupe_key=f"bulkjob:{job.id}",
            platform_id=scope.platform_id,
            livemode=scope.livemode,
        )
    return job


def job_of_submission(db: DbSession, scope: Scope, dedupe_key: str) -> BulkRelinkJob | None:
    """The job a form with this ``dedupe_key`` already queued, if any."""
    return _job_by_dedupe_key(db, scope, dedupe_key)


def _job_by_dedupe_key(db: DbSession, scope: Scope, dedupe_key: str) -> BulkRelinkJob | None:
    return db.scalars(
        BulkJobRepository(db, scope)
        .select()
        .where(BulkRelinkJob.dedupe_key == dedupe_key)
        .execution_options(populate_existing=True)
    ).first()


class BulkJobRepository(ScopedRepository[BulkRelinkJob]):
    model = BulkRelinkJob
    object_name = "bulk_relink_job"


def job_progress(db: DbSession, scope: Scope, job_id: str) -> BulkRelinkJob:
    """The job as it stands (fresh from the database); missing in this scope → 404 error."""
    job = db.scalars(
        BulkJobRepository(db, scope)
        .select()
        .where(BulkRelinkJob.id == job_id)
        .execution_options(populate_existing=True)
    ).first()
    if job is None:
        raise ResourceMissing(BulkJobRepository.object_name, job_id, param="id")
    return job
