"""Sending the relink request email (outbox kind ``email.relink_request``).

The row was written in the session's transaction; here the worker renders the email in
the holder's language and hands it to the backend. Each attempt's outcome lands on the
session's timeline (``email_sent`` / ``email_failed``) and in its :class:`EmailDelivery`.
A transient failure (SMTP 4xx, connection trouble) is retried with capped exponential
backoff; a permanent one (5xx) goes to the dead letter and shows in the dashboard.

Replays are harmless: the Message-ID is derived from the outbox row, so a send repeated
after a crash carries the same id (the mailbox ignores it, an SMTP receiver can dedupe),
and a replay after the outcome was recorded sends nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field, replace
from typing import Any

import structlog
from sqlalchemy import and_, insert, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session as DbSession

from relink.email.backends import (
    EmailBackend,
    MessageTags,
    SendOutcome,
    SendResult,
    SmtpBackend,
    backend_for,
)
from relink.email.bounces import (
    SUPPRESSED_REFUSAL,
    record_transient,
    return_path,
    suppress,
    token_row,
)
from relink.email.messages import (
    RenderedEmail,
    build_message,
    compose_bytes,
    envelope_address,
    message_id_for,
)
from relink.email.opt_outs import session_holder_id
from relink.email.relink_bundle import render_bundle_email
from relink.email.relink_request import (
    Holder,
    NoRecipient,
    RelinkEmailData,
    connected_holder,
    customer_holder,
    holder_locale,
    render_loaded,
    subject_of,
)
from relink.kit import clock, ids
from relink.kit.errors import ResourceMissing
from relink.kit.metrics import EMAILS
from relink.kit.sql import insert_or_ignore
from relink.models import (
    AUTOMATION,
    Account,
    AccountNumber,
    Authorization,
    BounceToken,
    ConnectedAccount,
    Customer,
    DeliveryState,
    EmailDelivery,
    EmailSuppression,
    Institution,
    InstitutionHealth,
    OutboxMessage,
    Platform,
    RelinkBundle,
    ReminderOptOut,
    Session,
    SessionStatus,
    SessionTimelineEntry,
    SuppressionReason,
    TimelineKind,
    User,
)
from relink.outbox.handlers import (
    BatchResult,
    GiveUp,
    Job,
    Outcome,
    Postponed,
    RetryLater,
    Withheld,
    backoff,
)
from relink.outbox.store import wake
from relink.sessions.bundles import RELINK_BUNDLE_EMAIL, bundle_url
from relink.sessions.service import RELINK_EMAIL
from relink.tenancy import Scope, platform_scope

log = structlog.get_logger("relink.email")

RETRY_BASE = dt.timedelta(seconds=30)
# How soon an email held back for its bank looks at the bank's health again (the health
# check's interval; a recovery also wakes the waiting emails at once).
INSTITUTION_RECHECK = dt.timedelta(minutes=5)


def wake_waiting_relink_emails(db: DbSession, institution_id: str) -> int:
    """The relink emails that wait for ``institution`` (it is healthy again) go out now,
    not at their next look; returns how many were woken."""
    waiting = (
        select(EmailDelivery.session_id, Session.bundle_id)
        .join(Session, Session.id == EmailDelivery.session_id)
        .join(Authorization, Authorization.id == Session.relink_authorization_id)
        .where(
            EmailDelivery.state == DeliveryState.waiting,
            Authorization.institution_id == institution_id,
        )
    )
    rows = db.execute(waiting).all()
    session_ids = [str(session_id) for session_id, _ in rows]
    # A bundle's email waits for every bank of its sessions (woken: it looks again).
    bundle_ids = sorted({str(bundle_id) for _, bundle_id in rows if bundle_id is not None})
    woken = 0
    for kind, key, ids_ in (
        (RELINK_EMAIL, "session_id", session_ids),
        (RELINK_BUNDLE_EMAIL, "bundle_id", bundle_ids),
    ):
        for start in range(0, len(ids_), 500):
            chunk = ids_[start : start + 500]
            woken += wake(
                db,
                and_(
                    OutboxMessage.kind == kind,
                    OutboxMessage.payload[key].as_string().in_(chunk),
                ),
            )
    return woken


def send_relink_email(job: Job) -> None:
    """The single-row handler: a batch of one, recorded in its own transaction."""
    result = start_relink_emails([job])()
    if result.record is not None:
        with job.runtime.database.unit_of_work() as db:
            result.record(db, {job.message.id})
    outcome = result.outcomes.get(job.message.id)
    if outcome is not None:
        raise outcome


@dataclass
class _Loaded:
    """The rows a batch of relink emails needs, each loaded with one query."""

    sessions: dict[str, Session]
    platforms: dict[str, Platform]
    deliveries: dict[str, EmailDelivery]
    customers: dict[str, Customer] = field(default_factory=dict)
    connected: dict[str, ConnectedAccount] = field(default_factory=dict)
    authorizations: dict[str, Authorization] = field(default_factory=dict)
    accounts: dict[str, Account] = field(default_factory=dict)
    accounts_of: dict[str, list[Account]] = field(default_factory=dict)
    institutions: dict[tuple[str, bool], Institution] = field(default_factory=dict)
    numbers: dict[str, list[AccountNumber]] = field(default_factory=dict)
    confirmed: set[tuple[str, str]] = field(default_factory=set)
    # (platform, livemode, address) of the batch's holders on the suppression list.
    suppressed: set[tuple[str, bool, str]] = field(default_factory=set)
    # (platform, livemode, holder id) of the automation's holders who opted out of it.
    opted_out: set[tuple[str, bool, str]] = field(default_factory=set)

    def scope(self, session: Session) -> Scope:
        platform = self.platforms.get(session.platform_id)
        offset = platform.test_clock_offset_seconds if platform else 0
        return platform_scope(session.platform_id, session.livemode, offset)

    def data(self, session: Session) -> RelinkEmailData:
        """What :func:`load_relink_email_data` would load, from the batch's rows."""
        platform = self.platforms[session.platform_id]
        assert session.relink_authorization_id is not None
        holder = Holder(None, None, [])
        if session.customer_id is not None:
            customer = _scoped(self.customers, session.customer_id, session, "customer")
            holder = customer_holder(customer)
        elif session.connected_account_id is not None:
            connected = _scoped(self.connected, session.connected_account_id, session, "account")
            holder = connected_holder(connected)
        authorization = _scoped(
            self.authorizations,
            session.relink_authorization_id,
            session,
            "financial_connections.authorization",
        )
        account: Account | None
        if session.relink_account_id is not None:
            account = _scoped(
                self.accounts, session.relink_account_id, session, "financial_connections.account"
            )
        else:
            account = subject_of(
                [
                    a
                    for a in self.accounts_of.get(session.relink_authorization_id, [])
                    if (a.platform_id, a.livemode) == (session.platform_id, session.livemode)
                ]
            )
        institution = self.institutions.get((authorization.institution_id, session.livemode))
        if institution is None:
            raise ResourceMissing("financial_connections.institution", authorization.institution_id)
        numbers = []
        if account is not None:
            numbers = [
                n
                for n in self.numbers.get(account.id, [])
                if (n.platform_id, n.livemode) == (session.platform_id, session.livemode)
            ]
        return RelinkEmailData(platform, holder, authorization, account, institution, numbers)


def _scoped(rows: dict[str, Any], object_id: str, session: Session, name: str) -> Any:
    """A loaded row of the session's scope (what a scoped repository's ``get`` returns)."""
    row = rows.get(object_id)
    if row is None or (row.platform_id, row.livemode) != (session.platform_id, session.livemode):
        raise ResourceMissing(name, object_id)
    return row


def _load(db: DbSession, session_ids: set[str]) -> _Loaded:
    sessions = {s.id: s for s in db.scalars(select(Session).where(Session.id.in_(session_ids)))}
    platform_ids = {s.platform_id for s in sessions.values()}
    loaded = _Loaded(
        sessions=sessions,
        platforms={
            p.id: p for p in db.scalars(select(Platform).where(Platform.id.in_(platform_ids)))
        }
        if platform_ids
        else {},
        deliveries={
            d.session_id: d
            for d in db.scalars(
                select(EmailDelivery).where(EmailDelivery.session_id.in_(session_ids))
            )
        },
    )
    done = (DeliveryState.sent, DeliveryState.skipped)
    pending = [
        s
        for s in sessions.values()
        if s.status == SessionStatus.pending
        and (s.id not in loaded.deliveries or loaded.deliveries[s.id].state not in done)
    ]
    if not pending:
        return loaded
    customer_ids = {s.customer_id for s in pending if s.customer_id is not None}
    if customer_ids:
        query = select(Customer).where(Customer.id.in_(customer_ids))
        loaded.customers = {c.id: c for c in db.scalars(query)}
    connected_ids = {
        s.connected_account_id
        for s in pending
        if s.customer_id is None and s.connected_account_id is not None
    }
    if connected_ids:
        query_connected = select(ConnectedAccount).where(ConnectedAccount.id.in_(connected_ids))
        loaded.connected = {c.id: c for c in db.scalars(query_connected)}
    authorization_ids = {s.relink_authorization_id for s in pending if s.relink_authorization_id}
    if authorization_ids:
        query_authorizations = select(Authorization).where(Authorization.id.in_(authorization_ids))
        loaded.authorizations = {a.id: a for a in db.scalars(query_authorizations)}
    account_ids = {s.relink_account_id for s in pending if s.relink_account_id is not None}
    if account_ids:
        query_accounts = select(Account).where(Account.id.in_(account_ids))
        loaded.accounts = {a.id: a for a in db.scalars(query_accounts)}
    wide = {
        s.relink_authorization_id
        for s in pending
        if s.relink_account_id is None and s.relink_authorization_id is not None
    }
    if wide:
        query_wide = select(Account).where(Account.authorization_id.in_(wide)).order_by(Account.id)
        for account in db.scalars(query_wide):
            assert account.authorization_id is not None
            loaded.accounts_of.setdefault(account.authorization_id, []).append(account)
    institution_ids = {a.institution_id for a in loaded.authorizations.values()}
    if institution_ids:
        query_institutions = select(Institution).where(Institution.id.in_(institution_ids))
        loaded.institutions = {(i.id, i.livemode): i for i in db.scalars(query_institutions)}
    subject_ids = set(loaded.accounts) | {
        a.id for accounts in loaded.accounts_of.values() for a in accounts
    }
    if subject_ids:
        query_numbers = (
            select(AccountNumber)
            .where(AccountNumber.account_id.in_(subject_ids))
            .order_by(AccountNumber.id)
        )
        for number in db.scalars(query_numbers):
            loaded.numbers.setdefault(number.account_id, []).append(number)
    test_platforms = {s.platform_id for s in pending if not s.livemode}
    holders: list[Customer | ConnectedAccount] = [
        *loaded.customers.values(),
        *loaded.connected.values(),
    ]
    addresses = {str(h.email).lower() for h in holders if h.email}
    if addresses:
        scopes = {(s.platform_id, s.livemode) for s in pending}
        query_suppressed = select(
            EmailSuppression.platform_id, EmailSuppression.livemode, EmailSuppression.address
        ).where(
            EmailSuppression.address.in_(addresses),
            EmailSuppression.platform_id.in_({p for p, _ in scopes}),
            EmailSuppression.suppressed_at.is_not(None),
            EmailSuppression.lifted_at.is_(None),
            or_(EmailSuppression.until.is_(None), EmailSuppression.until > clock.now()),
        )
        loaded.suppressed = {
            (str(p), bool(m), str(a))
            for p, m, a in db.execute(query_suppressed)
            if (p, m) in scopes
        }
    automatic = {session_holder_id(s) for s in pending if s.created_by == AUTOMATION} - {None}
    if automatic:
        query_opted_out = select(
            ReminderOptOut.platform_id, ReminderOptOut.livemode, ReminderOptOut.holder_id
        ).where(ReminderOptOut.holder_id.in_(automatic), ReminderOptOut.cleared_at.is_(None))
        loaded.opted_out = {(str(p), bool(m), str(h)) for p, m, h in db.execute(query_opted_out)}
    emails = {str(h.email).lower() for h in holders if h.email and not h.livemode}
    if test_platforms and emails:
        query_users = select(User.platform_id, User.email).where(
            User.platform_id.in_(test_platforms),
            User.email_confirmed_at.is_not(None),
            User.email.in_(emails),
        )
        loaded.confirmed = {(str(p), str(e)) for p, e in db.execute(query_users)}
    return loaded


@dataclass
class _Writes:
    """The timeline entries and delivery states a batch records, written in bulk."""

    timeline: list[dict[str, Any]] = field(default_factory=list)
    deliveries: dict[str, dict[str, Any]] = field(default_factory=dict)
    # The outbox row each session's writes belong to: only the rows the worker still
    # holds are recorded.
    rows: dict[str, str] = field(default_factory=dict)
    # The VERP token of each message that went on the wire, and the addresses a
    # permanent refusal suppresses (session id → row / (scope, address, reply)).
    tokens: dict[str, dict[str, Any]] = field(default_factory=dict)
    suppressions: dict[str, tuple[Scope, str, str | None]] = field(default_factory=dict)
    # A 4xx to RCPT TO: a transient failure counted against the address (the same shape).
    transients: dict[str, tuple[Scope, str, str | None]] = field(default_factory=dict)

    def entry(self, session_id: str, kind: TimelineKind, at: dt.datetime, **detail: Any) -> None:
        self.timeline.append(
            {
                "id": ids.new("tl"),
                "session_id": session_id,
                "kind": kind,
                "at": at,
                "detail": detail,
            }
        )

    def delivery(
        self,
        existing: EmailDelivery | None,
        scope: Scope,
        session_id: str,
        *,
        state: DeliveryState,
        attempt: int,
        now: dt.datetime,
        backend: str | None = None,
        message_id: str | None = None,
        reply: str | None = None,
    ) -> None:
        """The row :func:`record_delivery` would leave, from the state read before sending."""
        row = {
            "session_id": session_id,
            "platform_id": scope.platform_id,
            "livemode": scope.livemode,
            "state": state,
            "attempts": max(existing.attempts if existing else 0, attempt),
            "backend": backend or (existing.backend if existing else None),
            "message_id": message_id or (existing.message_id if existing else None),
            "last_reply": existing.last_reply if existing else None,
            "last_attempt_at": existing.last_attempt_at if existing else None,
            "sent_at": existing.sent_at if existing else None,
            "updated_at": now,
        }
        if state not in (DeliveryState.skipped, DeliveryState.waiting):
            row["last_attempt_at"] = now
        if state == DeliveryState.sent:
            row["sent_at"] = now
            row["last_reply"] = None
        elif reply is not None:
            row["last_reply"] = reply
        self.deliveries[session_id] = row

    def record(self, db: DbSession, held: set[str]) -> None:
        timeline = [e for e in self.timeline if self.rows.get(e["session_id"]) in held]
        deliveries = [
            row for session_id, row in self.deliveries.items() if self.rows.get(session_id) in held
        ]
        if timeline:
            db.execute(insert(SessionTimelineEntry), timeline)
        tokens = [
            row for session_id, row in self.tokens.items() if self.rows.get(session_id) in held
        ]
        if tokens:
            statement = insert_or_ignore(db, BounceToken, index_elements=["digest"])
            db.execute(statement, tokens)
        for session_id, (scope, address, reply) in self.suppressions.items():
            if self.rows.get(session_id) in held:
                suppress(
                    db, scope, address, SuppressionReason.bounced, reply, session_id, scope.now()
                )
        for session_id, (scope, address, reply) in self.transients.items():
            if self.rows.get(session_id) in held:
                record_transient(db, scope, address, reply, session_id, scope.now())
        if deliveries:
            dialect = db.get_bind().dialect.name
            upsert: Any = (
                postgresql.insert(EmailDelivery)
                if dialect == "postgresql"
                else sqlite.insert(EmailDelivery)
            )
            columns = [c for c in deliveries[0] if c != "session_id"]
            statement = upsert.on_conflict_do_update(
                index_elements=["session_id"],
                set_={name: getattr(upsert.excluded, name) for name in columns},
                # A sent email stays sent: no later outcome of the same session (a replay
                # after a crash that then failed) turns it back into a queued one.
                where=EmailDelivery.__table__.c.state != DeliveryState.sent,
            )
            db.connection().execute(statement, deliveries)


@dataclass(frozen=True)
class _Ready:
    job: Job
    scope: Scope
    session_id: str
    rendered: RenderedEmail
    delivery: EmailDelivery | None
    # The envelope sender (bounces+<token>@…) and its token.
    return_path: str
    token: str
    # A bundle's email covers its other sessions too (with each one's delivery).
    others: tuple[tuple[str, EmailDelivery | None], ...] = ()

    @property
    def covered(self) -> list[tuple[str, EmailDelivery | None]]:
        """Every session whose email this is, with its delivery as read before sending."""
        return [(self.session_id, self.delivery), *self.others]

    @property
    def message_id(self) -> str:
        assert self.rendered.message_id is not None
        return self.rendered.message_id

    @property
    def tags(self) -> MessageTags:
        return MessageTags(
            self.scope.platform_id,
            self.scope.livemode,
            session_id=self.session_id,
            return_path=self.return_path,
        )

    def submit(self, backend: SmtpBackend) -> Future[SendResult]:
        """Put the email on the wire from a sender thread; the future holds the outcome."""
        # Serialised once, straight to the wire form; smtplib sends the bytes as they are.
        raw = compose_bytes(self.rendered)
        if raw is None:
            return backend.submit(build_message(self.rendered), self.tags, unless=self.withheld)
        recipients = [envelope_address(self.rendered.to)]
        return backend.submit_raw(
            self.return_path, recipients, raw, self.tags, unless=self.withheld
        )

    def withheld(self) -> bool:
        """Asked by the sender thread right before the email goes on the wire: it may
        have waited behind others for its connection, longer than the claim lasts."""
        return not self.job.held()

    def send(self, backend: EmailBackend) -> SendResult:
        return backend.send(build_message(self.rendered), self.tags)


def start_relink_emails(jobs: Sequence[Job]) -> Callable[[], BatchResult]:
    """The batch handler: load every row the batch needs in a few queries, render each
    email and put it on the wire (the SMTP backend's sender threads), and return at once
    with a function that waits for the sends and gives the outcomes with the writes that
    record them (the dispatcher commits them with the rows' statuses). Meanwhile the
    dispatcher starts the next chunk."""
    outcomes: dict[str, Outcome] = {}
    writes = _Writes()
    if not jobs:
        return lambda: BatchResult(outcomes)
    runtime = jobs[0].runtime
    backend = backend_for(runtime)
    ready: list[_Ready] = []
    sending: list[tuple[_Ready, Future[SendResult]]] = []
    session_ids = {str(job.message.payload["session_id"]) for job in jobs}

    def finish() -> BatchResult:
        # Every submitted send finishes before the batch's outcome is decided, even when
        # something failed: no email is left in flight behind a rollback.
        for item, future in sending:
            try:
                result = future.result()
            except Exception as error:
                outcomes[item.job.message.id] = error
            else:
                outcomes[item.job.message.id] = _result(item, backend.name, result, writes)
        return BatchResult(outcomes, writes.record)

    try:
        # SQLite takes its write lock when any transaction begins: nothing below may open
        # a unit of work while this read is still open (SMTP sends open none).
        with runtime.database.read_only() as db:
            loaded = _load(db, session_ids)
            for job in jobs:
                try:
                    prepared = _prepare(job, loaded, writes)
                    if isinstance(prepared, _Ready) and isinstance(backend, SmtpBackend):
                        # On the wire while the next email renders.
                        sending.append((prepared, prepared.submit(backend)))
                    elif isinstance(prepared, _Ready):
                        ready.append(prepared)
                    else:
                        outcomes[job.message.id] = prepared
                except Exception as error:
                    outcomes[job.message.id] = error
        for item in ready:  # the mailbox writes its own rows: after the read has ended
            if item.withheld():
                outcomes[item.job.message.id] = Withheld()
                continue
            outcomes[item.job.message.id] = _result(item, backend.name, item.send(backend), writes)
    except BaseException:
        finish()
        raise
    return finish


def _prepare(job: Job, loaded: _Loaded, writes: _Writes) -> _Ready | Outcome:
    """The built message of one row, or its outcome when nothing is to be sent."""
    session_id = str(job.message.payload["session_id"])
    writes.rows[session_id] = job.message.id
    session = loaded.sessions.get(session_id)
    if session is None:
        return None
    scope = loaded.scope(session)
    delivery = loaded.deliveries.get(session_id)
    if delivery is not None and delivery.state in (DeliveryState.sent, DeliveryState.skipped):
        return None  # a replay after the outcome was recorded
    attempt = job.message.attempts
    if session.status != SessionStatus.pending:
        writes.delivery(
            delivery, scope, session_id, state=DeliveryState.skipped, attempt=0, now=scope.now()
        )
        log.info("email.skipped", session=session_id, status=session.status)
        return None
    refused: str | None = None
    try:
        data = loaded.data(session)
        if data.institution.health != InstitutionHealth.active:
            return _wait_for_institution(scope, session_id, data.institution, delivery, writes)
        rendered = render_loaded(
            job.runtime, session, data, holder_locale(data.holder, data.platform)
        )
    except NoRecipient as missing:
        refused = str(missing)
    else:
        refused = _refusal(job, scope, loaded, rendered.to) or _opted_out(
            job, scope, loaded, session
        )
    if refused is not None:
        return _refuse(writes, scope, [(session_id, delivery)], attempt, refused)
    message_id = message_id_for(job.message.id, rendered.sender)
    path, token = return_path(job.runtime.settings, job.runtime.link_key, job.message.id)
    return _Ready(
        job,
        scope,
        session_id,
        replace(rendered, message_id=message_id),
        delivery,
        path,
        token,
    )


def _refusal(job: Job, scope: Scope, loaded: _Loaded, to: str) -> str | None:
    """Why the email may not go to ``to`` (None: it may)."""
    pinned = job.message.payload.get("to")
    if isinstance(pinned, str) and pinned.lower() != to.lower():
        # A resend goes to the address the operator saw, or not at all.
        return "The holder's email address changed after the resend was asked for."
    # Test mode never emails anyone but the platform's confirmed team, even if the
    # holder's address changed after the session was created.
    if not scope.livemode and (scope.platform_id, to.lower()) not in loaded.confirmed:
        return "In test mode, relink emails go only to confirmed team members' addresses."
    if (scope.platform_id, scope.livemode, to.lower()) in loaded.suppressed:
        return SUPPRESSED_REFUSAL
    return None


def _opted_out(job: Job, scope: Scope, loaded: _Loaded, session: Session) -> str | None:
    """Why the automation's email stays unsent: its holder opted out after it asked
    (None: it may go). An operator may still request a relink by hand, and an
    operator's resend is theirs: the holder's choice covers automatic emails only."""
    if (
        session.created_by == AUTOMATION
        and not job.message.payload.get("resend")
        and (scope.platform_id, scope.livemode, session_holder_id(session)) in loaded.opted_out
    ):
        return "The holder opted out of reminders: automatic relink emails stay unsent."
    return None


def _refuse(
    writes: _Writes,
    scope: Scope,
    covered: list[tuple[str, EmailDelivery | None]],
    attempt: int,
    refused: str,
) -> GiveUp:
    """The email will never go: each session it covers says why."""
    now = scope.now()
    for session_id, delivery in covered:
        writes.entry(
            session_id,
            TimelineKind.email_failed,
            now,
            reply=refused,
            attempt=attempt,
            permanent=True,
        )
        writes.delivery(
            delivery,
            scope,
            session_id,
            state=DeliveryState.failed,
            attempt=attempt,
            now=now,
            reply=refused,
        )
    return GiveUp(refused)


def _wait_for_institution(
    scope: Scope,
    session_id: str,
    institution: Institution,
    delivery: EmailDelivery | None,
    writes: _Writes,
) -> Postponed:
    """Hold the email back while its bank is in trouble: asking the holder to repair a
    connection now would not help. Not an attempt: the delivery's attempts stay as they
    are, and the timeline says so once per wait."""
    now = scope.now()
    if delivery is None or delivery.state != DeliveryState.waiting:
        writes.entry(
            session_id,
            TimelineKind.email_waiting,
            now,
            institution=institution.id,
            health=institution.health,
        )
    writes.delivery(delivery, scope, session_id, state=DeliveryState.waiting, attempt=0, now=now)
    log.info("email.waiting", session=session_id, institution=institution.id)
    return Postponed(
        f"waiting for {institution.id} ({institution.health})", delay=INSTITUTION_RECHECK
    )


def _result(item: _Ready, backend: str, result: SendResult, writes: _Writes) -> Outcome:
    if result.outcome == SendOutcome.withheld:
        return Withheld()
    scope, session_id = item.scope, item.session_id
    message = item.job.message
    attempt = message.attempts
    settings = item.job.runtime.settings
    # Transient failures are retried for a window of real time, not a number of
    # attempts: an SMTP outage of hours must not lose the emails queued behind it.
    window = dt.timedelta(hours=settings.email_retry_hours)
    cap = dt.timedelta(seconds=settings.email_retry_max_delay_seconds)
    delay = backoff(attempt, base=RETRY_BASE, cap=cap)
    final = result.outcome == SendOutcome.permanent or (
        clock.now() + delay - message.created_at > window
    )
    EMAILS.labels("sent" if result.accepted else ("failed" if final else "deferred")).inc()
    now = scope.now()
    if result.accepted or result.code is not None:
        # It reached a server: a later bounce may come back to its envelope sender.
        writes.tokens[session_id] = token_row(
            scope,
            item.token,
            recipient=envelope_address(item.rendered.to),
            message_id=item.message_id,
            session_id=session_id,
            now=now,
        )
    if result.accepted:
        for covered_id, delivery in item.covered:
            writes.entry(
                covered_id,
                TimelineKind.email_sent,
                now,
                backend=backend,
                message_id=item.message_id,
                attempt=attempt,
            )
            writes.delivery(
                delivery,
                scope,
                covered_id,
                state=DeliveryState.sent,
                attempt=attempt,
                now=now,
                backend=backend,
                message_id=item.message_id,
            )
        log.info("email.sent", session=session_id, backend=backend, attempt=attempt)
        return None
    detail: dict[str, Any] = {
        "backend": backend,
        "reply": result.reply,
        "code": result.code,
        "attempt": attempt,
        "permanent": final,
    }
    if not final:
        detail["retry_at"] = int((now + delay).timestamp())
    bounced = result.address_failed
    kind = TimelineKind.email_bounced if bounced else TimelineKind.email_failed
    if bounced:
        address = envelope_address(item.rendered.to)
        writes.suppressions[session_id] = (scope, address, result.reply)
    elif result.address_deferred:
        writes.transients[session_id] = (scope, envelope_address(item.rendered.to), result.reply)
    state = DeliveryState.failed if final else DeliveryState.queued
    for covered_id, delivery in item.covered:
        writes.entry(covered_id, kind, now, **detail)
        writes.delivery(
            delivery,
            scope,
            covered_id,
            state=DeliveryState.bounced if bounced else state,
            attempt=attempt,
            now=now,
            backend=backend,
            message_id=item.message_id,
            reply=result.reply,
        )
    log.warning(
        "email.failed", session=session_id, reply=result.reply, attempt=attempt, final=final
    )
    reason = result.reply or result.outcome.value
    if final:
        return GiveUp(reason)
    return RetryLater(reason, delay=delay)


# -- the bundle email ---------------------------------------------------------------------


def send_relink_bundle_email(job: Job) -> None:
    """The handler of :data:`RELINK_BUNDLE_EMAIL`: one email for the bundle's sessions
    still pending (its outcome on each one's timeline and delivery, as if each had had
    its own); nothing once none is pending."""
    runtime = job.runtime
    writes = _Writes()
    with runtime.database.read_only() as db:
        prepared = _prepare_bundle(db, job, writes)
    outcome: Outcome = prepared if not isinstance(prepared, _Ready) else None
    if isinstance(prepared, _Ready):  # the mailbox writes its own rows: after the read
        backend = backend_for(runtime)
        outcome = _result(prepared, backend.name, prepared.send(backend), writes)
    with runtime.database.unit_of_work() as db:
        writes.record(db, {job.message.id})
    if outcome is not None:
        raise outcome


def _prepare_bundle(db: DbSession, job: Job, writes: _Writes) -> _Ready | Outcome:
    bundle = db.get(RelinkBundle, str(job.message.payload["bundle_id"]))
    if bundle is None:
        return None
    session_ids = set(
        db.scalars(
            select(Session.id).where(
                Session.bundle_id == bundle.id,
                Session.platform_id == bundle.platform_id,
                Session.livemode == bundle.livemode,
            )
        )
    )
    loaded = _load(db, session_ids)
    listed: list[tuple[Session, RelinkEmailData]] = []
    for session_id in sorted(session_ids):
        writes.rows[session_id] = job.message.id
        session = loaded.sessions[session_id]
        delivery = loaded.deliveries.get(session_id)
        if delivery is not None and delivery.state in (DeliveryState.sent, DeliveryState.skipped):
            continue  # a replay after the outcome was recorded
        if session.status != SessionStatus.pending:
            scope = loaded.scope(session)
            writes.delivery(
                delivery, scope, session_id, state=DeliveryState.skipped, attempt=0, now=scope.now()
            )
            continue
        listed.append((session, loaded.data(session)))
    if not listed:
        return None
    scope = loaded.scope(listed[0][0])
    covered = [(session.id, loaded.deliveries.get(session.id)) for session, _ in listed]
    troubled = [
        data.institution
        for _, data in listed
        if data.institution.health != InstitutionHealth.active
    ]
    if troubled:
        # One email for all: it waits while any of their banks is in trouble.
        waits = [
            _wait_for_institution(scope, session_id, troubled[0], delivery, writes)
            for session_id, delivery in covered
        ]
        return waits[0]
    platform = listed[0][1].platform
    try:
        rendered = render_bundle_email(
            job.runtime,
            listed,
            holder_locale(listed[0][1].holder, platform),
            link=bundle_url(job.runtime, bundle.id),
        )
    except NoRecipient as missing:
        return _refuse(writes, scope, covered, job.message.attempts, str(missing))
    refused = _refusal(job, scope, loaded, rendered.to) or _opted_out(
        job, scope, loaded, listed[0][0]
    )
    if refused is not None:
        return _refuse(writes, scope, covered, job.message.attempts, refused)
    (first_id, first_delivery), *others = covered
    path, token = return_path(job.runtime.settings, job.runtime.link_key, job.message.id)
    return _Ready(
        job,
        scope,
        first_id,
        replace(rendered, message_id=message_id_for(job.message.id, rendered.sender)),
        first_delivery,
        path,
        token,
        tuple(others),
    )
