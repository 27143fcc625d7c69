"""Secure hosted links (spec 20-relink §3, 10-api "Sessions").

A hosted relink is ``{PUBLIC_URL}/relink/{token}`` and a hosted link session
``{PUBLIC_URL}/connect/{token}``; only the token's SHA-256 is stored
(``Session.link_token_digest``), so a link is resolved by digest and nothing in the URL
names a platform, an account or an email. A modal session opens the same flow at
``/link/{client_secret}`` (there is no Stripe.js here): the secret names its session,
which is loaded by id; the SHA-256 of the secret is compared in constant time with the
one stored (the secret itself is derived, never stored).

- Valid while the session is ``pending`` and for :data:`LINK_LIFETIME` after its last
  visit (or its creation, if never visited).
- A ``GET`` only marks the link viewed (``scanned`` for a machine's visit, which keeps
  nothing alive: docs/links.md); everything else needs a ``POST`` with a CSRF token
  bound to the token digest, and giving up or asking for a new link is confirmed on a
  second screen with a one-time token (:func:`take_confirmation`).
- "Email me a new link" creates a fresh session with the same ``relink_options`` for the
  address on file, at most :data:`NEW_LINKS_PER_DAY` per account, and its caller answers
  the same way whether or not one was sent.
- :class:`HostedThrottle` limits requests per token and per client IP.
"""

from __future__ import annotations

import datetime as dt
import enum
import re
from dataclasses import dataclass, field

import structlog
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session as DbSession

from relink.accounts.repository import AccountRepository
from relink.authorizations.repository import AuthorizationRepository
from relink.hosted.traffic import Visit, client_digest, machine_signal
from relink.institutions.repository import InstitutionRepository
from relink.kit import ids
from relink.kit.crypto import constant_time_equals, token_digest
from relink.kit.errors import ApiError
from relink.kit.provenance import EventContext
from relink.kit.ratelimit import SlidingWindowThrottle
from relink.models import (
    Account,
    Authorization,
    ConnectedAccount,
    ConnectionStatus,
    Customer,
    EmailDelivery,
    FlowStep,
    HostedFlow,
    Institution,
    LinkVisit,
    Platform,
    Session,
    SessionStatus,
    SessionTimelineEntry,
    TimelineKind,
)
from relink.runtime import Runtime
from relink.sessions import timeline
from relink.sessions.repository import SessionRepository
from relink.sessions.service import NewSession, SessionService
from relink.tenancy import Scope, in_scope, platform_scope
from relink.web.csrf import csrf_token

log = structlog.get_logger("relink.links")

LINK_LIFETIME = dt.timedelta(days=30)
# A GET refreshes the stored "last visit" at most this often (see mark_viewed).
VISIT_MARK_GRANULARITY = dt.timedelta(hours=1)
NEW_LINKS_PER_DAY = 3
# Refused usernames/passwords and challenge answers a session takes before it locks.
MAX_CREDENTIAL_FAILURES = 5
NEW_LINK_WINDOW = dt.timedelta(hours=24)
# The burst rule (docs/links.md): a visit within DELIVERY_WINDOW of the email's delivery
# is kept; BURST_LINKS links of one platform and mode opened from one address within
# BURST_WINDOW are a machine's.
DELIVERY_WINDOW = dt.timedelta(minutes=2)
BURST_WINDOW = dt.timedelta(seconds=60)
BURST_LINKS = 3
# A change asked for on one screen is confirmed on the next within this long.
CONFIRM_LIFETIME = dt.timedelta(minutes=30)
# Who created a session requested from an expired or finished link's page.
HOLDER_REQUEST = "holder"
# Tokens are 32 bytes, base64url without padding.
TOKEN_PATTERN = re.compile(r"^[A-Za-z0-9_-]{43}$")
# ``{session id}_secret_{24 random bytes, base64url}`` (SessionService.create).
CLIENT_SECRET_PATTERN = re.compile(r"^(fcsess_[0-9A-Z]{26})_secret_[A-Za-z0-9_-]{32}$")
CSRF_PURPOSE = "hosted-relink"


class LinkKind(enum.StrEnum):
    """Where a session's flow is opened: the first segment of its path."""

    relink = "relink"  # hosted relink session: /relink/{token}
    connect = "connect"  # hosted link session: /connect/{token}
    modal = "link"  # modal session: /link/{client_secret}


@dataclass(frozen=True)
class LinkAddress:
    kind: LinkKind
    token: str  # the link token, or a modal session's client secret

    @property
    def path(self) -> str:
        return f"/{self.kind.value}/{self.token}"


def kind_of(session: Session) -> LinkKind:
    if session.ui_mode != "hosted":
        return LinkKind.modal
    return LinkKind.relink if session.relink_authorization_id else LinkKind.connect


def address_of(runtime: Runtime, session: Session) -> LinkAddress:
    kind = kind_of(session)
    if kind == LinkKind.modal:
        return LinkAddress(kind, runtime.client_secret(session.id))
    return LinkAddress(kind, runtime.link_token(session.id))


@dataclass(frozen=True)
class Holder:
    name: str | None
    email: str | None
    preferred_locales: list[str]


@dataclass
class HostedLink:
    """Everything a hosted page needs about one link, loaded in one place."""

    address: LinkAddress
    session: Session
    platform: Platform
    scope: Scope
    # Relink: the authorization being repaired. Link: None (it is created at the end).
    authorization: Authorization | None
    # Link: None until the holder picked one (or filters[institution] fixed it).
    institution: Institution | None
    target: Account | None
    # Relink: the target, else the authorization's live accounts. Link: those collected.
    accounts: list[Account]
    holder: Holder
    flow: HostedFlow | None = None

    @property
    def token(self) -> str:
        return self.address.token

    @property
    def path(self) -> str:
        return self.address.path

    @property
    def digest(self) -> str:
        return token_digest(self.token)

    @property
    def is_relink(self) -> bool:
        return self.session.relink_authorization_id is not None

    @property
    def fixed_institution_id(self) -> str | None:
        """filters[institution]: the holder does not pick."""
        value = (self.session.filters or {}).get("institution")
        return str(value) if value else None


def scope_of(platform: Platform, livemode: bool) -> Scope:
    return platform_scope(platform.id, livemode, platform.test_clock_offset_seconds)


def resolve(db: DbSession, address: LinkAddress, *, lock: bool = False) -> HostedLink | None:
    """The link at this address, or None (unknown, malformed, or another kind's)."""
    found = _find(db, address, lock=lock)
    if found is None or kind_of(found.session) != address.kind:
        return None
    return load(db, address, found.session, found)


@dataclass(frozen=True)
class _Found:
    """A session with the rows every page needs, read in the same query."""

    session: Session
    platform: Platform
    flow: HostedFlow | None
    holder: Holder


def _find(db: DbSession, address: LinkAddress, *, lock: bool) -> _Found | None:
    if address.kind == LinkKind.modal:
        secret = CLIENT_SECRET_PATTERN.match(address.token)
        if secret is None:
            return None
        where = Session.id == secret.group(1)
    elif TOKEN_PATTERN.match(address.token):
        where = Session.link_token_digest == token_digest(address.token)
    else:
        return None
    # One round trip: the session, its platform, its flow and its holder.
    query = (
        select(Session, Platform, HostedFlow, Customer, ConnectedAccount)
        .join(Platform, Platform.id == Session.platform_id)
        .outerjoin(HostedFlow, HostedFlow.session_id == Session.id)
        .outerjoin(Customer, Customer.id == Session.customer_id)
        .outerjoin(ConnectedAccount, ConnectedAccount.id == Session.connected_account_id)
        .where(where)
    )
    if lock:
        query = query.with_for_update(of=Session)
    row = db.execute(query).first()
    if row is None:
        return None
    session, platform, joined_flow, customer, connected = row
    flow: HostedFlow | None = joined_flow
    if address.kind == LinkKind.modal and not constant_time_equals(
        session.client_secret_digest, token_digest(address.token)
    ):
        return None
    if lock:
        # A query that waited for the session's lock saw the other rows as they were
        # before the holder of that lock committed (PostgreSQL re-reads only the locked
        # row): read the flow again, locked, as it is now (or as another request that
        # held the lock just created it).
        flow = db.get(HostedFlow, session.id, with_for_update=True, populate_existing=True)
    return _Found(session, platform, flow, _holder_of(customer, connected))


def load(
    db: DbSession, address: LinkAddress, session: Session, found: _Found | None = None
) -> HostedLink:
    if found is None:
        platform = db.get(Platform, session.platform_id)
        assert platform is not None
        flow = db.get(HostedFlow, session.id)
        holder = _holder(db, session)
    else:
        platform, flow, holder = found.platform, found.flow, found.holder
    scope = scope_of(platform, session.livemode)
    accounts_repo = AccountRepository(db, scope)
    institutions = InstitutionRepository(db, scope.livemode)
    authorization = target = None
    if session.relink_authorization_id is not None:
        authorization, institution, target = _relink_rows(db, scope, session)
        if target is not None:
            accounts = [target]
        else:
            accounts = [
                a
                for a in accounts_repo.of_authorization(authorization.id)
                if a.status != ConnectionStatus.disconnected
            ]
    else:
        chosen = (flow.institution_id if flow else None) or (session.filters or {}).get(
            "institution"
        )
        institution = institutions.find(str(chosen)) if chosen else None
        collected = session.collected_account_ids or []
        accounts = (
            list(
                db.scalars(
                    accounts_repo.select().where(Account.id.in_(collected)).order_by(Account.id)
                )
            )
            if collected
            else []
        )
    return HostedLink(
        address=address,
        session=session,
        platform=platform,
        scope=scope,
        authorization=authorization,
        institution=institution,
        target=target,
        accounts=accounts,
        holder=holder,
        flow=flow,
    )


def _relink_rows(
    db: DbSession, scope: Scope, session: Session
) -> tuple[Authorization, Institution | None, Account | None]:
    """The authorization being repaired, its institution and the target account (if
    any), in one round trip, each scoped as its repository scopes it."""
    assert session.relink_authorization_id is not None
    target_id = session.relink_account_id or None
    row = db.execute(
        select(Authorization, Institution, Account)
        .join(
            Institution,
            (Institution.id == Authorization.institution_id)
            & (Institution.livemode == scope.livemode),
        )
        .outerjoin(
            Account,
            (Account.id == target_id) & in_scope(Account, scope),
        )
        .where(
            Authorization.id == session.relink_authorization_id,
            in_scope(Authorization, scope),
        )
    ).first()
    if row is None:  # pragma: no cover - a stored session's authorization exists
        # The repositories raise their usual errors.
        authorization = AuthorizationRepository(db, scope).get(session.relink_authorization_id)
        institution = InstitutionRepository(db, scope.livemode).get(authorization.institution_id)
        return authorization, institution, None
    authorization, institution, target = row
    return authorization, institution, target if target_id else None


def _holder(db: DbSession, session: Session) -> Holder:
    customer = db.get(Customer, session.customer_id) if session.customer_id is not None else None
    connected = (
        db.get(ConnectedAccount, session.connected_account_id)
        if customer is None and session.connected_account_id is not None
        else None
    )
    return _holder_of(customer, connected)


def _holder_of(customer: Customer | None, connected: ConnectedAccount | None) -> Holder:
    if customer is not None:
        return Holder(customer.name, customer.email, list(customer.preferred_locales or []))
    if connected is not None:
        return Holder(
            connected.business_name, connected.email, list(connected.preferred_locales or [])
        )
    return Holder(None, None, [])


# --------------------------------------------------------------------------- validity


def last_visit(session: Session) -> dt.datetime:
    return session.link_last_visit_at or session.created_at


def is_stale(session: Session, at: dt.datetime) -> bool:
    """The link went unvisited for LINK_LIFETIME before ``at``."""
    return at - last_visit(session) >= LINK_LIFETIME


def is_usable(link: HostedLink) -> bool:
    """The flow may run: pending and not expired."""
    return link.session.status == SessionStatus.pending and not is_stale(
        link.session, link.scope.now()
    )


def mark_viewed(
    db: DbSession, link: HostedLink, visit: Visit | None = None, *, key: bytes = b""
) -> None:
    """The one side effect of a GET: remember the visit (which keeps the link alive).

    A machine's visit (:mod:`relink.hosted.traffic`: a HEAD, a prefetch, a scanner's
    user agent, or a burst of links opened from one address right after delivery) is
    recorded as ``scanned`` and is not a visit: it neither keeps the link alive nor
    counts as the holder's ``viewed``. ``key`` makes the client address's digest.

    Only the first visit, or one :data:`VISIT_MARK_GRANULARITY` after the stored mark,
    writes: reloading a page does not update the session row each time. The link then
    expires up to that much earlier than ``LINK_LIFETIME`` after the very last visit
    (30 days less at most an hour), which the 30-day rule tolerates."""
    session, now = link.session, link.scope.now()
    signal = machine_signal(visit) if visit is not None else None
    if signal is None and visit is not None and visit.client and session.delivery_method:
        signal = _burst(db, link, client_digest(key, visit.client), now)
    if signal is not None:
        if session.delivery_method is not None:
            _record_scan(db, session.id, now, signal)
        return
    previous = session.link_last_visit_at
    if previous is None and session.delivery_method is not None:
        timeline.record(db, session.id, TimelineKind.viewed, now)
    if previous is None or now - previous >= VISIT_MARK_GRANULARITY:
        session.link_last_visit_at = now


def looks_automated(db: DbSession, link: HostedLink, visit: Visit, *, key: bytes = b"") -> bool:
    """Whether a POST comes from a machine: its request says so, or its address is in a
    burst (it opened this and other links right after delivery). Such a POST is served,
    but what it records is not counted as the holder's (``opened``, the visit mark)."""
    if machine_signal(visit) is not None:
        return True
    if not visit.client:
        return False
    since = link.scope.now() - BURST_WINDOW
    digest = client_digest(key, visit.client)
    return _links_among(db, _burst_sessions(db, link.scope, digest, since)) >= BURST_LINKS


def _record_scan(db: DbSession, session_id: str, now: dt.datetime, signal: str) -> None:
    """One ``scanned`` entry per session (a scanner fetches a page several times)."""
    seen = db.scalar(
        select(SessionTimelineEntry.id)
        .where(
            SessionTimelineEntry.session_id == session_id,
            SessionTimelineEntry.kind == TimelineKind.scanned,
        )
        .limit(1)
    )
    if seen is None:
        timeline.record(db, session_id, TimelineKind.scanned, now, signal=signal)


def _burst(db: DbSession, link: HostedLink, digest: str, now: dt.datetime) -> str | None:
    """ "burst" when this visit, right after the email's delivery, makes its address one
    that opened :data:`BURST_LINKS` links of the scope within :data:`BURST_WINDOW`; the
    earlier visits of the burst, recorded as ``viewed``, become ``scanned`` too."""
    session = link.session
    delivery = db.get(EmailDelivery, session.id)
    if delivery is None or delivery.sent_at is None:
        return None
    if not dt.timedelta(0) <= now - delivery.sent_at <= DELIVERY_WINDOW:
        return None
    db.add(
        LinkVisit(
            id=ids.new("lvis"),
            platform_id=session.platform_id,
            livemode=session.livemode,
            session_id=session.id,
            client_digest=digest,
            at=now,
        )
    )
    since = now - BURST_WINDOW
    burst = _burst_sessions(db, link.scope, digest, since) | {session.id}
    if _links_among(db, burst) < BURST_LINKS:
        return None
    _rescan(db, burst - {session.id}, since)
    return "burst"


def _burst_sessions(db: DbSession, scope: Scope, digest: str, since: dt.datetime) -> set[str]:
    return set(
        db.scalars(
            select(LinkVisit.session_id).where(
                in_scope(LinkVisit, scope),
                LinkVisit.client_digest == digest,
                LinkVisit.at >= since,
            )
        )
    )


def _links_among(db: DbSession, session_ids: set[str]) -> int:
    """How many emailed links these sessions are: a bundle's sessions share one (their
    holder opening them one after the other from the bundle's page is no burst)."""
    rows = db.execute(select(Session.id, Session.bundle_id).where(Session.id.in_(session_ids)))
    return len({bundle_id or session_id for session_id, bundle_id in rows})


def _rescan(db: DbSession, session_ids: set[str], since: dt.datetime) -> None:
    """The burst's earlier visits were a machine's: their ``viewed`` becomes ``scanned``
    and the visit mark they left goes (a person's first visit will be ``viewed``)."""
    entries = db.scalars(
        select(SessionTimelineEntry).where(
            SessionTimelineEntry.session_id.in_(session_ids),
            SessionTimelineEntry.kind == TimelineKind.viewed,
            SessionTimelineEntry.at >= since,
        )
    ).all()
    for entry in entries:
        entry.kind = TimelineKind.scanned
        entry.detail = {**entry.detail, "signal": "burst"}
    rescanned = {entry.session_id for entry in entries}
    if rescanned:
        db.execute(update(Session).where(Session.id.in_(rescanned)).values(link_last_visit_at=None))


# --------------------------------------------------------------------------- confirmations


class Confirming(enum.StrEnum):
    """A change that takes two screens: asked for on one, confirmed on the next."""

    cancel = "cancel"
    new_link = "new_link"


CONFIRM_PURPOSE = "hosted-confirm"


def flow_of(db: DbSession, link: HostedLink) -> HostedFlow:
    """The link's flow row, made when the link has none yet."""
    if link.flow is None:
        now = link.scope.now()
        link.flow = HostedFlow(
            session_id=link.session.id,
            platform_id=link.session.platform_id,
            livemode=link.session.livemode,
            step=FlowStep.landing,
            credential_failures=0,
            created_at=now,
            updated_at=now,
        )
        db.add(link.flow)
    return link.flow


def ask_confirmation(db: DbSession, link: HostedLink, action: Confirming) -> None:
    """The first screen's POST: nothing changes but the confirmation it opens (a newer
    ask replaces an older one, and its token)."""
    flow = flow_of(db, link)
    flow.confirming = action
    flow.confirm_asked_at = link.scope.now()


def is_confirming(link: HostedLink, action: Confirming) -> bool:
    """The holder asked for ``action`` on the first screen, recently enough."""
    flow = link.flow
    return (
        flow is not None
        and flow.confirming == action
        and flow.confirm_asked_at is not None
        and link.scope.now() - flow.confirm_asked_at <= CONFIRM_LIFETIME
    )


def confirmation_token(key: bytes, link: HostedLink, action: Confirming) -> str | None:
    """The second screen's one-time token (None: no such ask is open). It is bound to the
    link, the action and the moment it was asked for, so only the page that the first
    POST led to carries it, and it stops working once used (the ask it is bound to is
    gone), replaced by a newer ask, or stale."""
    if not is_confirming(link, action):
        return None
    flow = link.flow
    assert flow is not None and flow.confirm_asked_at is not None
    return csrf_token(
        key, f"{CONFIRM_PURPOSE}:{action}", f"{link.digest}:{flow.confirm_asked_at.timestamp():.6f}"
    )


def take_confirmation(key: bytes, link: HostedLink, action: Confirming, token: str | None) -> bool:
    """The second screen's POST: whether it confirms ``action`` (and then the ask is
    used up); a missing, stale, replaced or forged token confirms nothing."""
    expected = confirmation_token(key, link, action)
    if expected is None or not token or not constant_time_equals(expected, token):
        return False
    assert link.flow is not None
    link.flow.confirming = None
    link.flow.confirm_asked_at = None
    return True


class LinkState:
    pending = "pending"
    succeeded = "succeeded"
    failed = "failed"
    cancelled = "cancelled"
    expired = "expired"
    superseded = "superseded"


def state_of(db: DbSession, link: HostedLink) -> str:
    """What the link's page shows: the flow (pending) or one of the outcomes."""
    session = link.session
    if session.status == SessionStatus.pending:
        return LinkState.expired if is_stale(session, link.scope.now()) else LinkState.pending
    if session.status == SessionStatus.succeeded:
        return LinkState.succeeded
    if session.status == SessionStatus.failed:
        return LinkState.failed
    # A link that had already expired keeps saying so, even once a newer link replaced
    # it: otherwise the page would tell whether "Email me a new link" sent one.
    if session.finished_at is not None and is_stale(session, session.finished_at):
        return LinkState.expired
    # (Only the expiry scan cancels a session as expired, and it leaves the link stale as
    # of its finish, so the dates above say "expired" without reading the timeline.)
    last = timeline.entries(db, session.id)[-1:] if session.delivery_method else []
    if last and last[0].detail.get("superseded"):
        return LinkState.superseded
    return LinkState.cancelled


def may_request_new_link(state: str) -> bool:
    return state in (LinkState.expired, LinkState.failed, LinkState.cancelled)


def is_locked(link: HostedLink) -> bool:
    """Too many refused credentials: the session takes no more (a new link may)."""
    return link.flow is not None and link.flow.credential_failures >= MAX_CREDENTIAL_FAILURES


# --------------------------------------------------------------------------- new link


def request_new_link(
    db: DbSession, runtime: Runtime, link: HostedLink, context: EventContext
) -> bool:
    """Email a fresh link to the address on file, when allowed. Returns whether it did;
    callers must not let the holder see the answer."""
    state = state_of(db, link)
    if not link.is_relink or not (
        may_request_new_link(state) or (state == LinkState.pending and is_locked(link))
    ):
        return False
    session, scope = link.session, link.scope
    now = scope.now()
    recent = (
        SessionRepository(db, scope)
        .select()
        .where(
            Session.relink_authorization_id == session.relink_authorization_id,
            Session.created_by == HOLDER_REQUEST,
            Session.created_at > now - NEW_LINK_WINDOW,
        )
    )
    if session.relink_account_id is not None:
        recent = recent.where(Session.relink_account_id == session.relink_account_id)
    else:
        recent = recent.where(Session.relink_account_id.is_(None))
    count = db.scalar(select(func.count()).select_from(recent.subquery())) or 0
    if count >= NEW_LINKS_PER_DAY:
        return False
    request = NewSession(
        holder_type=session.holder_type,
        customer=session.customer_id,
        account=session.connected_account_id,
        permissions=list(session.permissions),
        prefetch=list(session.prefetch),
        return_url=session.return_url,
        relink_authorization=session.relink_authorization_id,
        relink_account=session.relink_account_id,
        ui_mode="hosted",
        delivery_method="email",
        hosted_return_url=session.hosted_return_url,
        hosted_given=True,
        created_by=HOLDER_REQUEST,
    )
    try:
        with db.begin_nested():
            SessionService(db, scope, runtime, context).create(request)
    except ApiError as refused:
        # Not eligible any more (no email on file, disconnected, ...): say nothing.
        log.info("hosted.new_link_refused", session=session.id, code=refused.instance_code)
        return False
    return True


# --------------------------------------------------------------------------- expiry scan


def expire_stale_links(db: DbSession, scope: Scope, context: EventContext) -> int:
    """Cancel pending hosted sessions (relink and link) whose link went unvisited for 30 days."""
    now = scope.now()
    cutoff = now - LINK_LIFETIME
    stale = (
        SessionRepository(db, scope)
        .select()
        .where(
            Session.status == SessionStatus.pending,
            Session.ui_mode == "hosted",
            func.coalesce(Session.link_last_visit_at, Session.created_at) <= cutoff,
        )
        .order_by(Session.id)
    )
    if db.get_bind().dialect.name == "postgresql":
        stale = stale.with_for_update(skip_locked=True)
    service = SessionService(db, scope, None, context)
    expired = 0
    for session in db.scalars(stale).all():
        service.finish(
            session,
            SessionStatus.cancelled,
            failure_reason="no_authorization",
            cancelled_reason="other",
            timeline_kind=TimelineKind.expired,
        )
        expired += 1
    return expired


# --------------------------------------------------------------------------- throttling


@dataclass
class HostedThrottle:
    """The hosted endpoints' limits: per token, per client IP, and credential failures."""

    per_token: SlidingWindowThrottle = field(
        default_factory=lambda: SlidingWindowThrottle(limit=120, window=60.0)
    )
    per_ip: SlidingWindowThrottle = field(
        default_factory=lambda: SlidingWindowThrottle(limit=1200, window=60.0)
    )

    def allow(self, *, token: str | None, ip: str | None) -> bool:
        if ip is not None and not self.per_ip.hit(f"ip:{ip}"):
            return False
        return token is None or self.per_token.hit(f"token:{token_digest(token)}")


THROTTLE_KEY = "hosted_throttle"


def throttle_for(runtime: Runtime) -> HostedThrottle:
    """The runtime's throttle (tests may replace ``runtime.extras["hosted_throttle"]``)."""
    throttle = runtime.extras.get(THROTTLE_KEY)
    if not isinstance(throttle, HostedThrottle):
        throttle = runtime.extras[THROTTLE_KEY] = HostedThrottle()
    return throttle
