"""Read models of the dashboard pages. Every query starts from a scoped repository (or
the scoped ``SELECT`` of :mod:`relink.accounts.filters`) and every list is bounded."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session

from relink.accounts.filters import AccountSort
from relink.accounts.repository import AccountRepository
from relink.authorizations.consent import ConsentHistory
from relink.authorizations.repository import AuthorizationRepository
from relink.connect_accounts.repository import ConnectedAccountRepository
from relink.customers.repository import CustomerRepository
from relink.eligibility.rules import BROKEN_SINCE_EVER
from relink.eligibility.service import Eligibility, eligible_for_hosted_relink
from relink.email.repository import MailboxRepository
from relink.events.repository import EventRepository
from relink.hosted.links import HOLDER_REQUEST
from relink.institutions.repository import InstitutionRepository
from relink.kit.i18n import M_, N_, Message
from relink.kit.pagination import Cursor, Page, paginate, paginate_sorted
from relink.models import (
    GIVEN_UP,
    Account,
    AccountNumber,
    ApiKey,
    Authorization,
    ConnectedAccount,
    ConnectionStatus,
    ConsentEvent,
    Customer,
    EmailDelivery,
    Event,
    Institution,
    MailboxMessage,
    SessionStatus,
    SessionTimelineEntry,
    TimelineKind,
    User,
    WebhookAttempt,
    WebhookEndpoint,
)
from relink.models import Session as FcSession
from relink.models.sessions import AUTOMATION
from relink.platforms.repository import ApiKeyRepository
from relink.sessions import timeline
from relink.sessions.bundles import bundled_sessions
from relink.sessions.repository import SessionRepository
from relink.tenancy import Scope
from relink.webhooks.repository import WebhookAttemptRepository, WebhookEndpointRepository

PAGE_SIZE = 50
# Counts stop here, so a count on a million rows stays cheap ("10,000+").
COUNT_CAP = 10_000


def capped_count(db: Session, query: Select[Any], cap: int = COUNT_CAP) -> tuple[int, bool]:
    """How many rows ``query`` matches, counting at most ``cap`` (and whether it hit it)."""
    limited = query.limit(cap + 1).subquery()
    count = db.scalar(select(func.count()).select_from(limited)) or 0
    return min(count, cap), count > cap


# -- holders ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Holder:
    kind: str  # "customer" | "account"
    id: str
    name: str | None
    email: str | None

    @property
    def url(self) -> str:
        return (
            f"/customers/{self.id}" if self.kind == "customer" else f"/connected-accounts/{self.id}"
        )


def holders_of(db: Session, scope: Scope, accounts: list[Any]) -> dict[str, Holder]:
    """Holders (by id) of rows that have ``customer_id`` / ``connected_account_id``."""
    customer_ids = {a.customer_id for a in accounts if a.customer_id}
    connected_ids = {a.connected_account_id for a in accounts if a.connected_account_id}
    holders: dict[str, Holder] = {}
    if customer_ids:
        for customer in db.scalars(
            CustomerRepository(db, scope).select().where(Customer.id.in_(customer_ids))
        ):
            holders[customer.id] = Holder("customer", customer.id, customer.name, customer.email)
    if connected_ids:
        for connected in db.scalars(
            ConnectedAccountRepository(db, scope)
            .select()
            .where(ConnectedAccount.id.in_(connected_ids))
        ):
            holders[connected.id] = Holder(
                "account", connected.id, connected.business_name, connected.email
            )
    return holders


def holder_id(row: Any) -> str | None:
    return row.customer_id or row.connected_account_id  # type: ignore[no-any-return]


# -- accounts list ------------------------------------------------------------------------


@dataclass(frozen=True)
class LastRequest:
    session_id: str
    status: str
    created_at: dt.datetime
    # The relink succeeded but the first refresh after it failed: why (a reason code of
    # ``relink.lifecycle.refresh.REFRESH_FAILURE_REASONS``, or ``account_inactive``).
    refresh_failed: str | None = None


@dataclass(frozen=True)
class AccountRow:
    account: Account
    institution_name: str
    holder: Holder | None
    tan_expiry: dt.datetime | None
    tan_status: str | None
    last_request: LastRequest | None
    eligibility: Eligibility

    @property
    def broken(self) -> bool:
        """Rule 1 holds already (the "expiry" sort puts these first)."""
        due = self.account.relink_due_at
        return due is not None and due <= BROKEN_SINCE_EVER

    @property
    def consent_expiry(self) -> dt.datetime | None:
        """When the consent is expected to end (an active account's only)."""
        if self.account.status != ConnectionStatus.active:
            return None
        return self.account.expected_deactivation_at

    @property
    def consent_ends_first(self) -> bool:
        """The consent ends before any TAN expires: the column shows the consent's end."""
        consent = self.consent_expiry
        return consent is not None and (self.tan_expiry is None or consent < self.tan_expiry)

    @property
    def reason_codes(self) -> list[str]:
        """Why the account is not eligible (``words.explanations`` says each in words)."""
        return [reason.value for reason in self.eligibility.reasons]


def latest_requests(db: Session, scope: Scope, accounts: list[Account]) -> dict[str, LastRequest]:
    """The newest hosted relink request of each account, in three bounded queries: a
    request may name the account, or its whole authorization (then it repairs every
    account of it, and its proof of repair is told per account)."""
    if not accounts:
        return {}
    sessions = SessionRepository(db, scope)
    emailed = FcSession.delivery_method.is_not(None)
    by_account = (
        sessions.select()
        .with_only_columns(func.max(FcSession.id))
        .where(FcSession.relink_account_id.in_([a.id for a in accounts]), emailed)
        .group_by(FcSession.relink_account_id)
    )
    authorization_ids = {a.authorization_id for a in accounts if a.authorization_id}
    by_authorization = (
        sessions.select()
        .with_only_columns(func.max(FcSession.id))
        .where(
            FcSession.relink_authorization_id.in_(authorization_ids),
            FcSession.relink_account_id.is_(None),
            emailed,
        )
        .group_by(FcSession.relink_authorization_id)
    )
    newest = list(
        db.scalars(
            sessions.select().where(
                or_(FcSession.id.in_(by_account), FcSession.id.in_(by_authorization))
            )
        )
    )
    failed_refreshes = first_refresh_failures(
        db, [s.id for s in newest if s.status == SessionStatus.succeeded]
    )
    of_account = {s.relink_account_id: s for s in newest if s.relink_account_id}
    of_authorization = {s.relink_authorization_id: s for s in newest if not s.relink_account_id}
    found: dict[str, LastRequest] = {}
    for account in accounts:
        candidates = [
            s
            for s in (of_account.get(account.id), of_authorization.get(account.authorization_id))
            if s is not None
        ]
        if not candidates:
            continue
        session = max(candidates, key=lambda s: s.id)
        found[account.id] = LastRequest(
            session.id,
            session.status,
            session.created_at,
            failed_refreshes.get((session.id, account.id)),
        )
    return found


def first_refresh_failures(db: Session, session_ids: list[str]) -> dict[tuple[str, str], str]:
    """Of these (already scoped) sessions, the repaired accounts whose first refresh after
    the repair failed, by (session, account): the failure's reason."""
    if not session_ids:
        return {}
    entries = db.scalars(
        select(SessionTimelineEntry)
        .where(
            SessionTimelineEntry.session_id.in_(session_ids),
            SessionTimelineEntry.kind.in_(
                [TimelineKind.data_refreshed, TimelineKind.refresh_failed]
            ),
        )
        .order_by(SessionTimelineEntry.at, SessionTimelineEntry.id)
    )
    first: dict[tuple[str, str], SessionTimelineEntry] = {}
    for entry in entries:
        first.setdefault((entry.session_id, str(entry.detail.get("account"))), entry)
    return {
        key: str(entry.detail.get("reason") or "bank_error")
        for key, entry in first.items()
        if entry.kind == TimelineKind.refresh_failed
    }


def account_rows(
    db: Session, scope: Scope, now: dt.datetime, accounts: list[Account]
) -> list[AccountRow]:
    """Decorate one page of accounts (at most a page size: eligibility is per account)."""
    ids = [account.id for account in accounts]
    institutions = InstitutionRepository(db, scope.livemode).by_ids(
        {account.institution_id for account in accounts}
    )
    numbers = AccountRepository(db, scope).account_numbers(ids)
    holders = holders_of(db, scope, accounts)
    requests = latest_requests(db, scope, accounts)
    rows = []
    for account in accounts:
        expiry, tan_status = soonest_tan(numbers.get(account.id, []))
        institution = institutions.get(account.institution_id)
        holder = holders.get(holder_id(account) or "")
        rows.append(
            AccountRow(
                account=account,
                institution_name=institution.name if institution else account.institution_id,
                holder=holder,
                tan_expiry=expiry,
                tan_status=tan_status,
                last_request=requests.get(account.id),
                eligibility=eligible_for_hosted_relink(db, scope, account, now),
            )
        )
    return rows


def soonest_tan(numbers: list[AccountNumber]) -> tuple[dt.datetime | None, str | None]:
    """The TAN that needs attention first: a dead one, else the earliest expiry."""
    for number in numbers:
        if number.status in ("expired", "deactivated"):
            return number.expected_expiry_at, number.status
    dated = [n for n in numbers if n.expected_expiry_at is not None]
    if not dated:
        return None, numbers[0].status if numbers else None
    first = min(dated, key=lambda n: n.expected_expiry_at or dt.datetime.max.replace(tzinfo=dt.UTC))
    return first.expected_expiry_at, first.status


@dataclass(frozen=True)
class AccountsPage:
    rows: list[AccountRow]
    has_more: bool
    count: int
    count_capped: bool
    institutions: list[Institution]

    @property
    def first_id(self) -> str | None:
        return self.rows[0].account.id if self.rows else None

    @property
    def last_id(self) -> str | None:
        return self.rows[-1].account.id if self.rows else None


def accounts_page(
    db: Session,
    scope: Scope,
    now: dt.datetime,
    query: Select[Account],
    cursor: Cursor,
    sort: AccountSort | None = None,
) -> AccountsPage:
    order = sort.order() if sort is not None else None
    page: Page[Account]
    if order is None:
        page = paginate(db, query, Account.id, cursor)
    else:
        key = order.key

        def anchor(account_id: str) -> tuple[Any, str] | None:
            found = db.execute(
                AccountRepository(db, scope)
                .select()
                .with_only_columns(key, Account.id)
                .where(Account.id == account_id)
            ).first()
            return (found[0], found[1]) if found is not None else None

        page = paginate_sorted(db, query, order, cursor, anchor)
    count, capped = capped_count(db, query.with_only_columns(Account.id))
    return AccountsPage(
        rows=account_rows(db, scope, now, page.items),
        has_more=page.has_more,
        count=count,
        count_capped=capped,
        institutions=institution_choices(db, scope),
    )


def institution_choices(db: Session, scope: Scope) -> list[Institution]:
    # The catalog is small (the sandbox bank's institutions, or a connector's list).
    return list(
        db.scalars(
            InstitutionRepository(db, scope.livemode).select().order_by(Institution.name).limit(500)
        )
    )


# -- account detail -----------------------------------------------------------------------


@dataclass(frozen=True)
class RelinkHistoryItem:
    session: FcSession
    entries: list[SessionTimelineEntry]
    created_by: str | Message


@dataclass(frozen=True)
class AccountDetail:
    row: AccountRow
    numbers: list[AccountNumber]
    authorization: Authorization | None
    siblings: list[Account]
    history: list[RelinkHistoryItem]
    events: list[Event]
    consent_history: list[ConsentEvent]


HISTORY_LIMIT = 20
EVENTS_LIMIT = 25


def describe_actor(db: Session, platform_id: str, created_by: str | None) -> str | Message:
    """Who created a session, as a whole phrase ("by …", which languages inflect): a team
    user's email, an API key, automatic relink, the holder (translated where shown)."""
    if not created_by:
        return N_("by the API")
    kind, _, ident = created_by.partition(":")
    if kind == "user":
        email = db.scalar(
            select(User.email).where(User.id == ident, User.platform_id == platform_id)
        )
        return M_("by %(who)s", who=email) if email else N_("by a removed team user")
    if kind == "api_key":
        return M_("by API key %(key)s", key=ident)
    if created_by == AUTOMATION:
        return N_("by automatic relink")
    if created_by == HOLDER_REQUEST:
        return N_("by the holder")
    return M_("by %(who)s", who=created_by)


def account_detail(
    db: Session, scope: Scope, now: dt.datetime, account_id: str
) -> AccountDetail | None:
    accounts = AccountRepository(db, scope)
    account = accounts.find(account_id)
    if account is None:
        return None
    row = account_rows(db, scope, now, [account])[0]
    numbers = accounts.account_numbers([account.id]).get(account.id, [])
    authorization = AuthorizationRepository(db, scope).find(account.authorization_id)
    siblings = list(
        db.scalars(
            accounts.select()
            .where(Account.authorization_id == account.authorization_id, Account.id != account.id)
            .order_by(Account.id.desc())
            .limit(50)
        )
    )
    sessions = list(
        db.scalars(
            SessionRepository(db, scope)
            .select()
            .where(FcSession.relink_account_id == account.id)
            .order_by(FcSession.id.desc())
            .limit(HISTORY_LIMIT)
        )
    )
    history = [
        RelinkHistoryItem(
            session,
            timeline.entries(db, session.id),
            describe_actor(db, scope.platform_id, session.created_by),
        )
        for session in sessions
    ]
    events = list(
        db.scalars(
            EventRepository(db, scope)
            .select()
            .where(Event.object_id == account.id)
            .order_by(Event.id.desc())
            .limit(EVENTS_LIMIT)
        )
    )
    consent_history = ConsentHistory(db, scope).of_authorization(account.authorization_id)
    return AccountDetail(row, numbers, authorization, siblings, history, events, consent_history)


# -- holders (customers / connected accounts) ---------------------------------------------


def holder_search(model: type[Any], text: str | None, *, without_email: bool = False) -> list[Any]:
    """Conditions of the holder lists' search box, and of "Without email" (the holders a
    relink email cannot reach; ``email IS NULL`` is served by the scope's email index)."""
    conditions: list[Any] = [model.email.is_(None)] if without_email else []
    if not text:
        return conditions
    text = text.strip()
    if text.startswith(("cus_", "acct_")):
        return [*conditions, model.id == text]
    name = model.name if model is Customer else model.business_name
    return [
        *conditions,
        or_(
            model.email.istartswith(text, autoescape=True),
            name.istartswith(text, autoescape=True),
        ),
    ]


def customers_page(
    db: Session, scope: Scope, search: str | None, cursor: Cursor, *, without_email: bool = False
) -> Page[Customer]:
    query = (
        CustomerRepository(db, scope)
        .select()
        .where(
            Customer.deleted.is_(False),
            *holder_search(Customer, search, without_email=without_email),
        )
    )
    return paginate(db, query, Customer.id, cursor)


def connected_accounts_page(
    db: Session, scope: Scope, search: str | None, cursor: Cursor, *, without_email: bool = False
) -> Page[ConnectedAccount]:
    query = (
        ConnectedAccountRepository(db, scope)
        .select()
        .where(*holder_search(ConnectedAccount, search, without_email=without_email))
    )
    return paginate(db, query, ConnectedAccount.id, cursor)


def accounts_of_holder(db: Session, scope: Scope, holder: str) -> list[Account]:
    column = Account.customer_id if holder.startswith("cus_") else Account.connected_account_id
    return list(
        db.scalars(
            AccountRepository(db, scope)
            .select()
            .where(column == holder)
            .order_by(Account.id.desc())
            .limit(100)
        )
    )


# -- relink requests ----------------------------------------------------------------------

FUNNEL_STEPS = ("created", "email_sent", "opened", "authenticated", "succeeded")
# The relink requests page's funnel (translated where shown).
FUNNEL_LABELS = {
    "created": N_("Requested"),
    "email_sent": N_("Emailed"),
    "opened": N_("Opened"),
    "authenticated": N_("Authenticated"),
    "succeeded": N_("Succeeded"),
}


@dataclass(frozen=True)
class RequestFilter:
    status: str | None = None
    outcome: str | None = None  # a failure_reason / cancelled_reason
    since: dt.datetime | None = None
    until: dt.datetime | None = None


@dataclass
class Funnel:
    steps: list[tuple[str, int]] = field(default_factory=list)
    failures: list[tuple[str, int]] = field(default_factory=list)


def _requests_query(scope: Scope, db: Session, request_filter: RequestFilter) -> Select[FcSession]:
    query = SessionRepository(db, scope).select().where(FcSession.delivery_method.is_not(None))
    if request_filter.status:
        query = query.where(FcSession.status == request_filter.status)
    if request_filter.outcome:
        query = query.where(
            or_(
                FcSession.failure_reason == request_filter.outcome,
                FcSession.cancelled_reason == request_filter.outcome,
            )
        )
    if request_filter.since:
        query = query.where(FcSession.created_at >= request_filter.since)
    if request_filter.until:
        query = query.where(FcSession.created_at < request_filter.until)
    return query


def requests_page(
    db: Session, scope: Scope, request_filter: RequestFilter, cursor: Cursor
) -> Page[FcSession]:
    return paginate(db, _requests_query(scope, db, request_filter), FcSession.id, cursor)


def funnel(db: Session, scope: Scope, request_filter: RequestFilter) -> Funnel:
    """Sessions of the range reaching each step, counted in SQL (one grouped query each)."""
    in_range = _requests_query(scope, db, request_filter).with_only_columns(FcSession.id)
    reached: dict[str, int] = dict(
        db.execute(
            select(
                SessionTimelineEntry.kind,
                func.count(func.distinct(SessionTimelineEntry.session_id)),
            )
            .where(SessionTimelineEntry.session_id.in_(in_range.scalar_subquery()))
            .group_by(SessionTimelineEntry.kind)
        ).all()
    )
    failures: Counter[str] = Counter()
    for reason, count in db.execute(
        _requests_query(scope, db, request_filter)
        .with_only_columns(FcSession.failure_reason, func.count())
        .where(FcSession.failure_reason.is_not(None), FcSession.status != "succeeded")
        .group_by(FcSession.failure_reason)
    ):
        failures[str(reason)] += count
    return Funnel(
        steps=[(FUNNEL_LABELS[step], int(reached.get(step, 0))) for step in FUNNEL_STEPS],
        failures=failures.most_common(),
    )


def request_rows(db: Session, scope: Scope, sessions: list[FcSession]) -> dict[str, Any]:
    """Holders and accounts of a page of sessions, by id."""
    account_ids = [s.relink_account_id for s in sessions if s.relink_account_id]
    accounts = (
        {
            account.id: account
            for account in db.scalars(
                AccountRepository(db, scope).select().where(Account.id.in_(account_ids))
            )
        }
        if account_ids
        else {}
    )
    return {"holders": holders_of(db, scope, sessions), "accounts": accounts}


@dataclass(frozen=True)
class RequestDetail:
    session: FcSession
    entries: list[SessionTimelineEntry]
    delivery: EmailDelivery | None
    account: Account | None
    holder: Holder | None
    created_by: str | Message
    # The requests of the same bundle (one email for all), this one included.
    bundled: list[FcSession] = field(default_factory=list)


def request_detail(db: Session, scope: Scope, session_id: str) -> RequestDetail | None:
    """One relink request (a hosted email session) of this scope, with what the page shows."""
    session = (
        SessionRepository(db, scope)
        .select()
        .where(FcSession.id == session_id, FcSession.delivery_method.is_not(None))
    )
    found = db.scalars(session).first()
    if found is None:
        return None
    account = (
        AccountRepository(db, scope).find(found.relink_account_id)
        if found.relink_account_id
        else None
    )
    holder_key = found.customer_id or found.connected_account_id
    return RequestDetail(
        found,
        timeline.entries(db, found.id),
        db.get(EmailDelivery, found.id),
        account,
        holders_of(db, scope, [found]).get(holder_key) if holder_key else None,
        describe_actor(db, scope.platform_id, found.created_by),
        bundled_sessions(db, scope, found.bundle_id) if found.bundle_id else [],
    )


# -- mailbox ------------------------------------------------------------------------------

MAILBOX_PAGE_SIZE = 10


def mailbox_page(
    db: Session, scope: Scope, reader: str, session_id: str | None, cursor: Cursor
) -> Page[MailboxMessage]:
    """The emails the mailbox backend stored for this platform and mode that ``reader``
    (a team user's id) may read, newest first."""
    query = MailboxRepository(db, scope, reader=reader).select()
    if session_id:
        query = query.where(MailboxMessage.session_id == session_id)
    return paginate(db, query, MailboxMessage.id, cursor)


# -- developers ---------------------------------------------------------------------------

KEYS_LIMIT = 100


def api_keys(db: Session, scope: Scope) -> list[ApiKey]:
    return list(
        db.scalars(
            ApiKeyRepository(db, scope).select().order_by(ApiKey.id.desc()).limit(KEYS_LIMIT)
        )
    )


def api_key(db: Session, scope: Scope, key_id: str) -> ApiKey | None:
    return ApiKeyRepository(db, scope).find(key_id)


def webhook_endpoints_page(db: Session, scope: Scope, cursor: Cursor) -> Page[WebhookEndpoint]:
    return WebhookEndpointRepository(db, scope).page(cursor)


@dataclass(frozen=True)
class EndpointDetail:
    endpoint: WebhookEndpoint
    attempts: list[WebhookAttempt]


def endpoint_detail(db: Session, scope: Scope, endpoint_id: str) -> EndpointDetail | None:
    endpoint = WebhookEndpointRepository(db, scope).find(endpoint_id)
    if endpoint is None:
        return None
    return EndpointDetail(endpoint, WebhookAttemptRepository(db, scope).of_endpoint(endpoint.id))


def events_page(db: Session, scope: Scope, event_type: str | None, cursor: Cursor) -> Page[Event]:
    query = EventRepository(db, scope).select()
    if event_type:
        query = query.where(Event.type == event_type)
    return paginate(db, query, Event.id, cursor)


@dataclass(frozen=True)
class EventDetail:
    event: Event
    attempts: list[WebhookAttempt]
    endpoints: list[WebhookEndpoint]


def event_detail(db: Session, scope: Scope, event_id: str) -> EventDetail | None:
    event = EventRepository(db, scope).find(event_id)
    if event is None:
        return None
    return EventDetail(
        event,
        WebhookAttemptRepository(db, scope).of_event(event.id),
        WebhookEndpointRepository(db, scope).newest(),
    )


def given_up_emails(
    db: Session, scope: Scope, *, limit: int = 50
) -> list[tuple[FcSession, EmailDelivery]]:
    """Pending requests whose email was given up, newest first, with their delivery."""
    query = (
        SessionRepository(db, scope)
        .select()
        .join(EmailDelivery, EmailDelivery.session_id == FcSession.id)
        .where(
            FcSession.status == SessionStatus.pending,
            EmailDelivery.state.in_(GIVEN_UP),
        )
        .add_columns(EmailDelivery)
        .order_by(FcSession.id.desc())
        .limit(limit)
    )
    return [(row[0], row[1]) for row in db.execute(query)]


# -- institutions ------------------------------------------------------------------------


@dataclass(frozen=True)
class InstitutionRow:
    """One institution of the mode, with this platform's accounts there by status."""

    institution: Institution
    accounts: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.accounts.values())


def institutions_page(db: Session, scope: Scope) -> list[InstitutionRow]:
    """Every institution of the mode (the disabled ones too: accounts may be there)."""
    institutions = list(
        db.scalars(InstitutionRepository(db, scope.livemode).select().order_by(Institution.name))
    )
    accounts = AccountRepository(db, scope).select().subquery()
    counts: dict[str, dict[str, int]] = {}
    for institution_id, status, count in db.execute(
        select(accounts.c.institution_id, accounts.c.status, func.count()).group_by(
            accounts.c.institution_id, accounts.c.status
        )
    ):
        counts.setdefault(institution_id, {})[status] = int(count)
    return [InstitutionRow(row, counts.get(row.id, {})) for row in institutions]
