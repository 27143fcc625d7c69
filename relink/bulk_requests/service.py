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
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import (
    ARRAY,
    ColumnElement,
    Select,
    String,
    Table,
    bindparam,
    column,
    func,
    literal,
    literal_column,
    select,
    text,
    true,
    update,
)
from sqlalchemy import table as table_
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
    TimelineKind,
)
from relink.models.base import UTCDateTime
from relink.outbox.store import enqueue, enqueue_many
from relink.runtime import Runtime
from relink.sessions.bundles import BUNDLE_PREFIX, RELINK_BUNDLE_EMAIL, bundle_token
from relink.sessions.repository import SessionRepository
from relink.sessions.service import RELINK_EMAIL, SessionService
from relink.tenancy import Scope, ScopedRepository, in_scope

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


# Account ids per IN (…) of an UPDATE (well under SQLite's variable limit).
ID_CHUNK = 2000


def _mark_requested(db: DbSession, scope: Scope, account_ids: list[str], now: dt.datetime) -> None:
    """The accounts' newest relink request is now (the Accounts list sorts by it)."""
    for start in range(0, len(account_ids), ID_CHUNK):
        db.execute(
            update(Account)
            .where(in_scope(Account, scope), Account.id.in_(account_ids[start : start + ID_CHUNK]))
            .values(last_relink_request_at=now)
            .execution_options(synchronize_session=False)
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
    scope: Scope,
    row_id: str,
    kind: str,
    payload: dict[str, Any],
    dedupe_key: str,
    queued_at: dt.datetime,
) -> dict[str, Any]:
    return {
        "id": row_id,
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


def _supersede_eligible(
    db: DbSession,
    scope: Scope,
    runtime: Runtime,
    accounts: Select[Account],
    after: str | None,
    through: str,
    now: dt.datetime,
) -> None:
    """Cancel the pending hosted sessions of the batch's eligible accounts (superseded),
    as :meth:`SessionService.create` does before creating a new one. The eligible ones
    are looked for only among the accounts with a pending hosted session (usually none:
    then nothing more is read)."""
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
    candidates = list(db.scalars(query.order_by(Session.relink_account_id).with_for_update()))
    if not candidates:
        return
    eligible = set(
        db.scalars(
            in_id_range(scoped(scope, accounts), after, through)
            .with_only_columns(Account.id)
            .where(
                Account.id.in_(sorted({str(old.relink_account_id) for old in candidates})),
                skip_reason(scope, now).is_(None),
            )
        )
    )
    pending = [old for old in candidates if old.relink_account_id in eligible]
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


# -- the batch written by the database ----------------------------------------------------
#
# The eligible accounts never leave the database: one INSERT … SELECT numbers them by id
# and joins them with session ids and token digests made here in bulk (PostgreSQL:
# ``unnest(…) WITH ORDINALITY`` over arrays; SQLite: ``json_each`` over a JSON array),
# and the timeline and outbox rows follow the same way.

_TIMELINE_INSERT = {
    "postgresql": """
    INSERT INTO session_timeline (id, session_id, kind, at, detail)
    SELECT t.id, t.session_id, t.kind, :at,
        CASE WHEN t.kind = 'created' THEN CAST(:created_detail AS JSONB)
             ELSE CAST('{}' AS JSONB) END
        || CASE WHEN t.bundle_id IS NULL THEN CAST('{}' AS JSONB)
                ELSE jsonb_build_object('bundle', t.bundle_id) END
    FROM unnest(CAST(:ids AS TEXT[]), CAST(:session_ids AS TEXT[]), CAST(:kinds AS TEXT[]),
                CAST(:bundle_ids AS TEXT[])) AS t(id, session_id, kind, bundle_id)
    """,
    "sqlite": """
    INSERT INTO session_timeline (id, session_id, kind, at, detail)
    SELECT t.id, t.session_id, t.kind, :at,
        CASE WHEN t.bundle_id IS NULL THEN t.detail
             ELSE json_set(t.detail, '$.bundle', t.bundle_id) END
    FROM (
        SELECT json_extract(value, '$[0]') AS id, json_extract(value, '$[1]') AS session_id,
            json_extract(value, '$[2]') AS kind, json_extract(value, '$[3]') AS bundle_id,
            CASE WHEN json_extract(value, '$[2]') = 'created' THEN json(:created_detail)
                 ELSE '{}' END AS detail
        FROM json_each(:rows)
    ) AS t
    """,
}
_OUTBOX_INSERT = {
    "postgresql": """
    INSERT INTO outbox (id, kind, payload, dedupe_key, platform_id, livemode, status,
                        attempts, run_after, created_at)
    SELECT o.id, :kind, jsonb_build_object('session_id', o.session_id),
        'email:relink:' || o.session_id, :platform_id, :livemode, :status, 0,
        :queued_at, :queued_at
    FROM unnest(CAST(:ids AS TEXT[]), CAST(:session_ids AS TEXT[])) AS o(id, session_id)
    """,
    "sqlite": """
    INSERT INTO outbox (id, kind, payload, dedupe_key, platform_id, livemode, status,
                        attempts, run_after, created_at)
    SELECT o.id, :kind, json_object('session_id', o.session_id),
        'email:relink:' || o.session_id, :platform_id, :livemode, :status, 0,
        :queued_at, :queued_at
    FROM (
        SELECT json_extract(value, '$[0]') AS id, json_extract(value, '$[1]') AS session_id
        FROM json_each(:rows)
    ) AS o
    """,
}


def _rows_statement(statements: dict[str, str], dialect: str, *datetimes: str) -> Any:
    return text(statements[dialect]).bindparams(
        *(bindparam(name, type_=UTCDateTime()) for name in datetimes)
    )


def _columns_parameters(dialect: str, columns: dict[str, list[Any]]) -> dict[str, Any]:
    """Equal-length columns as the rows statements take them: one array per column on
    PostgreSQL, one JSON array of rows (``:rows``) on SQLite."""
    if dialect == "postgresql":
        return dict(columns)
    return {"rows": json.dumps(list(zip(*columns.values(), strict=True)))}


def _fresh_sessions(
    dialect: str,
) -> tuple[Any, ColumnElement[Any], ColumnElement[Any], ColumnElement[Any], ColumnElement[Any]]:
    """The fresh (session id, client secret digest, link token digest) rows and their
    1-based position ``n``, as a FROM clause of the engine's own."""
    if dialect == "postgresql":
        fresh = (
            func.unnest(
                bindparam("session_ids", type_=ARRAY(String)),
                bindparam("client_secret_digests", type_=ARRAY(String)),
                bindparam("link_token_digests", type_=ARRAY(String)),
            )
            .table_valued(
                "session_id", "client_secret_digest", "link_token_digest", with_ordinality="n"
            )
            .render_derived(name="fresh")
        )
        return (
            fresh,
            fresh.c.session_id,
            fresh.c.client_secret_digest,
            fresh.c.link_token_digest,
            fresh.c.n,
        )
    # SQLite: a temporary table keyed by ``n``, so the join looks each row up by key (a
    # join with json_each, or a CTE of it, is planned as a scan per eligible account).
    staged = _STAGED_SESSIONS
    return (
        staged,
        staged.c.session_id,
        staged.c.client_secret_digest,
        staged.c.link_token_digest,
        staged.c.n,
    )


_STAGED_SESSIONS = table_(
    "bulk_fresh_sessions",
    column("n"),
    column("session_id"),
    column("client_secret_digest"),
    column("link_token_digest"),
    schema="temp",
)


def _fresh_parameters(
    db: DbSession, dialect: str, runtime: Runtime, session_ids: list[str]
) -> dict[str, Any]:
    """The parameters of :func:`_fresh_sessions`' rows (on SQLite, written to its table)."""
    columns = {
        "session_ids": session_ids,
        "client_secret_digests": [
            token_digest(runtime.client_secret(session_id)) for session_id in session_ids
        ],
        "link_token_digests": [
            token_digest(runtime.link_token(session_id)) for session_id in session_ids
        ],
    }
    if dialect == "postgresql":
        return columns
    db.execute(
        text(
            "CREATE TEMPORARY TABLE IF NOT EXISTS bulk_fresh_sessions (n INTEGER PRIMARY KEY,"
            " session_id TEXT, client_secret_digest TEXT, link_token_digest TEXT)"
        )
    )
    db.execute(text("DELETE FROM temp.bulk_fresh_sessions"))
    db.execute(
        text(
            "INSERT INTO temp.bulk_fresh_sessions SELECT key + 1, json_extract(value, '$[0]'),"
            " json_extract(value, '$[1]'), json_extract(value, '$[2]') FROM json_each(:rows)"
        ),
        _columns_parameters(dialect, columns),
    )
    return {}


def _session_insert(
    db: DbSession,
    scope: Scope,
    accounts: Select[Account],
    after: str | None,
    through: str,
    now: dt.datetime,
    actor: str,
) -> Any:
    """One ``INSERT … SELECT`` of the batch's sessions: the eligible accounts (numbered by
    id) joined with the fresh session ids and token digests, skipping accounts that have
    a pending hosted session (the partial unique index); returns each inserted session's
    id, account and holder."""
    dialect = db.get_bind().dialect.name
    eligible = (
        in_id_range(scoped(scope, accounts), after, through)
        .with_only_columns(
            Account.id,
            Account.authorization_id,
            Account.holder_type,
            Account.customer_id,
            Account.connected_account_id,
            Account.permissions,
            relink_reason_column().label("relink_reason"),
            func.row_number().over(order_by=Account.id).label("n"),
        )
        .where(skip_reason(scope, now).is_(None))
        .cte("eligible")
        # Materialized: inlined, PostgreSQL's planner may loop over it once per fresh id.
        .prefix_with("MATERIALIZED")
    )
    fresh, session_id, client_secret_digest, link_token_digest, n = _fresh_sessions(dialect)
    # JSON values as SQLAlchemy's JSON type binds them (None is JSON null).
    json_type = "JSONB" if dialect == "postgresql" else "TEXT"
    empty_list: ColumnElement[Any] = literal_column(f"CAST('[]' AS {json_type})")
    json_null: ColumnElement[Any] = literal_column(f"CAST('null' AS {json_type})")
    values = {
        "id": session_id,
        "platform_id": literal(scope.platform_id),
        "livemode": literal(scope.livemode),
        "holder_type": eligible.c.holder_type,
        "customer_id": eligible.c.customer_id,
        "connected_account_id": eligible.c.connected_account_id,
        "client_secret_digest": client_secret_digest,
        "permissions": func.coalesce(eligible.c.permissions, empty_list),
        "prefetch": empty_list,
        "filters": json_null,
        "limits": json_null,
        "ui_mode": literal("hosted"),
        "delivery_method": literal("email"),
        "relink_authorization_id": eligible.c.authorization_id,
        "relink_account_id": eligible.c.id,
        "status": literal(SessionStatus.pending.value),
        "collected_account_ids": empty_list,
        "link_token_digest": link_token_digest,
        "created_by": literal(actor),
        "relink_reason": eligible.c.relink_reason,
        "created_at": literal(now, UTCDateTime()),
        "updated_at": literal(now, UTCDateTime()),
    }
    table = cast(Table, Session.__table__)
    rows = (
        select(*values.values())
        .select_from(eligible.join(fresh, n == eligible.c.n))
        # SQLite needs a WHERE to tell the join's ON from the upsert's ON CONFLICT.
        .where(true())
    )
    return (
        insert_or_ignore(
            db,
            table,
            index_elements=[table.c.relink_account_id],
            # Literal (not bound) so PostgreSQL can match the partial index's predicate.
            index_where=text("status = 'pending' AND ui_mode = 'hosted'"),
        )
        .from_select(list(values), rows)
        .returning(
            table.c.id,
            table.c.relink_account_id,
            table.c.holder_type,
            table.c.customer_id,
            table.c.connected_account_id,
        )
    )


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
    """Request relinks for the selected accounts with ``after < id <= through``.

    The batch is counted by skip reason; the eligible accounts' sessions are written by
    one ``INSERT … SELECT`` (ids and token digests made in bulk here, one per eligible
    account counted, with a margin for accounts that became eligible since), and their
    timeline and outbox rows by one ``INSERT … SELECT`` each.
    """
    dialect = db.get_bind().dialect.name
    counts = count_by_reason(db, scope, now, accounts, after=after, through=through)
    eligible_count = counts.pop(None, 0)
    skipped = {str(reason): count for reason, count in counts.items()}
    if not eligible_count:
        return BulkResult(0, merge_counts({}, skipped))
    _supersede_eligible(db, scope, runtime, accounts, after, through, now)

    session_ids = ids.new_many("fcsess", eligible_count + eligible_count // 20 + 8)
    inserted_rows = list(
        db.execute(
            _session_insert(db, scope, accounts, after, through, now, actor),
            _fresh_parameters(db, dialect, runtime, session_ids),
        )
    )
    # In account order, as the keyset batches go.
    inserted_rows.sort(key=lambda row: row.relink_account_id)
    inserted = [(row.id, row.relink_account_id) for row in inserted_rows]
    _mark_requested(db, scope, [account_id for _session_id, account_id in inserted], now)
    holders = {
        row.relink_account_id: (row.holder_type, row.customer_id, row.connected_account_id)
        for row in inserted_rows
    }
    del inserted_rows
    bundle_of = _bundle(db, scope, runtime, inserted, holders, now)

    created_detail: dict[str, Any] = {"by": actor}
    if job_id is not None:
        created_detail["bulk_job"] = job_id
    session_of = [session_id for session_id, _ in inserted for _kind in range(2)]
    if session_of:
        db.execute(
            _rows_statement(_TIMELINE_INSERT, dialect, "at"),
            {
                **_columns_parameters(
                    dialect,
                    {
                        "ids": ids.new_many("tl", len(session_of)),
                        "session_ids": session_of,
                        "kinds": [TimelineKind.created.value, TimelineKind.email_queued.value]
                        * len(inserted),
                        "bundle_ids": [bundle_of.get(session_id) for session_id in session_of],
                    },
                ),
                "at": now,
                "created_detail": json.dumps(created_detail),
            },
        )
    queued_at = clock.now()
    alone = [session_id for session_id, _ in inserted if session_id not in bundle_of]
    if alone:
        db.execute(
            _rows_statement(_OUTBOX_INSERT, dialect, "queued_at"),
            {
                **_columns_parameters(
                    dialect, {"ids": ids.new_many("obx", len(alone)), "session_ids": alone}
                ),
                "kind": RELINK_EMAIL,
                "platform_id": scope.platform_id,
                "livemode": scope.livemode,
                "status": OutboxStatus.pending.value,
                "queued_at": queued_at,
            },
        )
    bundle_ids = sorted(set(bundle_of.values()))
    enqueue_many(
        db,
        [
            _email_row(
                scope,
                row_id,
                RELINK_BUNDLE_EMAIL,
                {"bundle_id": bundle_id},
                f"email:bundle:{bundle_id}",
                queued_at,
            )
            for bundle_id, row_id in zip(
                bundle_ids, ids.new_many("obx", len(bundle_ids)), strict=True
            )
        ],
    )
    # An eligible account whose session was not inserted got a pending hosted session
    # from a concurrent request in the meantime.
    raced = eligible_count - len(inserted)
    if raced > 0:
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
