"""What a hosted page shows, as plain data built inside the request's transaction.

Views only pick the locale and render; every fact a template needs (the bank, the
masked accounts, why the holder is asked, the permissions) is gathered here.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from sqlalchemy.orm import Session as DbSession

from relink.accounts.repository import AccountRepository
from relink.authorizations.consent_links import consent_token, consent_url
from relink.authorizations.repository import AuthorizationRepository
from relink.connectors.base import BankAccount, Challenge
from relink.eligibility.rules import ABOUT_TO_BREAK
from relink.email.consent_receipt import receipt_delivery
from relink.email.opt_outs import reminders_path
from relink.hosted import connect
from relink.hosted.branding import SupportContact, support_contact_of
from relink.hosted.connect import Shared
from relink.hosted.links import CSRF_PURPOSE, HostedLink, LinkState, may_request_new_link
from relink.institutions.connectors import ConnectorUnavailable, connector_for
from relink.models import (
    Account,
    AccountNumber,
    ConnectionStatus,
    HolderType,
    InactiveCause,
    Institution,
    OutboxStatus,
    RelinkAction,
    TanStatus,
)
from relink.runtime import Runtime
from relink.sessions.bundles import bundle_path
from relink.tenancy import Scope
from relink.web.csrf import csrf_token

# Why the holder is asked, in their words (the templates hold the sentences).
INACTIVE_REASONS = {
    InactiveCause.access_expired: "consent_expired",
    InactiveCause.access_denied: "access_revoked",
    InactiveCause.institution_requirement: "bank_requirement",
    InactiveCause.account_unavailable: "account_unavailable",
}
PERMISSION_ORDER = ("balances", "ownership", "payment_method", "transactions")


@dataclass(frozen=True)
class MaskedAccount:
    name: str | None
    last4: str | None


@dataclass(frozen=True)
class InstitutionChoice:
    id: str
    name: str


@dataclass(frozen=True)
class OfferedAccount:
    id: str  # the connector's stable id
    name: str
    last4: str
    subcategory: str
    checked: bool


@dataclass(frozen=True)
class Reason:
    code: str  # consent_expired, number_expiring, access_ending, ...
    date: dt.datetime | None = None


@dataclass(frozen=True)
class BundleItem:
    """One connection of the bundle as its page lists it."""

    bank_name: str | None
    accounts: list[MaskedAccount]
    reason: Reason | None
    state: str
    # The session's own page, while it can still be repaired there.
    repair_path: str | None


@dataclass(frozen=True)
class BundlePage:
    items: list[BundleItem]

    @property
    def total(self) -> int:
        return len(self.items)

    @property
    def repaired(self) -> int:
        return sum(1 for item in self.items if item.state == LinkState.succeeded)

    @property
    def done(self) -> bool:
        """Every connection is repaired."""
        return self.repaired == self.total


@dataclass(frozen=True)
class Connection:
    """One of the holder's connections with the platform, on the consent page."""

    authorization_id: str
    bank_name: str
    accounts: list[MaskedAccount]
    permissions: list[str]
    status: str  # active, inactive, disconnected
    granted_at: dt.datetime | None
    valid_until: dt.datetime | None
    revoked_at: dt.datetime | None


@dataclass(frozen=True)
class ConsentReceipt:
    """What the holder agreed to, on the success page (the receipt email says the same)."""

    bank_name: str
    accounts: list[MaskedAccount]
    permissions: list[str]
    given_at: dt.datetime
    valid_until: dt.datetime | None
    renewed: bool
    # The holder's connections page: a signed link, as the receipt email carries.
    consent_url: str
    # pending: the email is on its way; done: sent; None: no email goes (no address,
    # test mode to an address that is not a confirmed team member's, suppressed).
    emailed: OutboxStatus | None


@dataclass
class Screen:
    """One hosted page: its template and the facts it shows."""

    page: str
    status_code: int = 200
    token: str | None = None
    # The link's path (/relink/…, /connect/…, /link/…): its forms post below it.
    path: str | None = None
    csrf: str | None = None
    platform_name: str = "Relink"
    brand_color: str | None = None
    has_logo: bool = False
    # The platform's support email and website, as the landing page repeats them.
    support: SupportContact = field(default_factory=SupportContact)
    livemode: bool = True
    default_locale: str | None = None
    preferred_locales: list[str] = field(default_factory=list)
    holder_name: str | None = None
    bank_name: str | None = None
    # The holder signs in on Relink's own form (no account choice at the bank).
    credentials_bank: bool = False
    accounts: list[MaskedAccount] = field(default_factory=list)
    reason: Reason | None = None
    permissions: list[str] = field(default_factory=list)
    # Origins the page's forms may lead to (the bank's authorize page).
    form_targets: list[str] = field(default_factory=list)
    error: str | None = None
    notice: str | None = None
    challenge: Challenge | None = None
    attempts_left: int | None = None
    may_request_new_link: bool = False
    return_url: str | None = None
    authenticated: bool = False
    # Link sessions: the institution picker, the accounts to choose from.
    institutions: list[InstitutionChoice] = field(default_factory=list)
    query: str | None = None
    may_change_institution: bool = False
    offered: list[OfferedAccount] = field(default_factory=list)
    account_limit: int | None = None
    # Decoupled: the waiting page looks again after this many seconds.
    poll_after: int | None = None
    # A confirmation page: its form's one-time token, and where the language switcher
    # leads (the page itself, not the link's).
    confirmation: str | None = None
    switch_path: str | None = None
    relink: bool = False
    # The bundle page's facts (relink.hosted.bundles); on a bundled session's pages, the
    # way back to its bundle's page.
    bundle: BundlePage | None = None
    bundle_path: str | None = None
    # The footer's "Stop reminder emails" (a relink's landing page), and when the
    # holder did (the reminders page).
    reminders_path: str | None = None
    opted_out_at: dt.datetime | None = None
    # The holder's consent page: their connections, the one a revocation asks about.
    connections: list[Connection] = field(default_factory=list)
    connection: Connection | None = None
    # A successful link or relink: the consent it gave or renewed.
    receipt: ConsentReceipt | None = None


def bare(page: str, status_code: int) -> Screen:
    """A page about no particular link (unknown link, throttled, refused form)."""
    return Screen(page=page, status_code=status_code)


def screen(
    db: DbSession,
    runtime: Runtime,
    link: HostedLink,
    page: str,
    *,
    status_code: int = 200,
    error: str | None = None,
    notice: str | None = None,
    challenge: Challenge | None = None,
    attempts_left: int | None = None,
    state: str | None = None,
    shared: Shared | None = None,
    query: str | None = None,
    poll_after: int | None = None,
) -> Screen:
    session, platform = link.session, link.platform
    institutions = (
        connect.institutions_to_pick(db, link, query) if page.endswith("institutions") else []
    )
    offered = _offered(link, shared) if shared is not None else []
    accounts = [MaskedAccount(a.display_name, a.last4) for a in link.accounts]
    if shared is not None and page.endswith("consent"):
        accounts = [
            MaskedAccount(a.display_name, a.last4) for a in connect.chosen_accounts(session, shared)
        ]
    bank = [link.institution] if link.institution is not None else institutions
    return_url = session.hosted_return_url or session.return_url
    return Screen(
        page=page,
        status_code=status_code,
        token=link.token,
        path=link.path,
        csrf=csrf_token(runtime.csrf_key, CSRF_PURPOSE, link.digest),
        platform_name=platform.name,
        brand_color=platform.brand_color,
        has_logo=platform.logo_png is not None,
        support=support_contact_of(platform),
        livemode=session.livemode,
        default_locale=platform.default_locale,
        preferred_locales=link.holder.preferred_locales,
        holder_name=link.holder.name,
        bank_name=link.institution.name if link.institution is not None else None,
        credentials_bank=link.institution is not None and link.institution.auth_kind != "oauth",
        accounts=accounts,
        reason=reason_for(db, link) if link.is_relink else None,
        permissions=[p for p in PERMISSION_ORDER if p in session.permissions],
        form_targets=[*bank_origins(runtime, bank, link.scope), *_origin(return_url)],
        error=error,
        notice=notice,
        challenge=challenge,
        attempts_left=attempts_left,
        may_request_new_link=link.is_relink
        and ((state is not None and may_request_new_link(state)) or page == "too_many_attempts"),
        return_url=return_url,
        authenticated=link.flow is not None and link.flow.authenticated_at is not None,
        institutions=[InstitutionChoice(i.id, i.name) for i in institutions],
        query=query,
        may_change_institution=not link.is_relink and link.fixed_institution_id is None,
        offered=offered,
        account_limit=connect.account_limit(session) if not link.is_relink else None,
        poll_after=poll_after,
        relink=link.is_relink,
        bundle_path=bundle_path(runtime, session.bundle_id) if session.bundle_id else None,
        reminders_path=reminders_path(runtime, session)
        if link.is_relink and page == "landing"
        else None,
        receipt=consent_receipt(db, runtime, link) if state == LinkState.succeeded else None,
    )


def consent_receipt(db: DbSession, runtime: Runtime, link: HostedLink) -> ConsentReceipt | None:
    """The consent the link's session gave (a link) or renewed (a relink), with the
    signed link to the holder's connections page.

    That link is made as the receipt email's is, as of the moment the consent was given:
    the page shows the same link on every reload, and it stops opening the connections
    page when the email's would (an expired link still asks for a new one by email)."""
    session, scope = link.session, link.scope
    collected = set(session.collected_account_ids)
    holder_id = session.customer_id or session.connected_account_id
    if not collected or holder_id is None:
        return None
    repository = AccountRepository(db, scope)
    accounts = list(
        db.scalars(repository.select().where(Account.id.in_(collected)).order_by(Account.id))
    )
    if not accounts:
        return None
    authorization = AuthorizationRepository(db, scope).find(accounts[0].authorization_id)
    institution = (
        db.get(Institution, authorization.institution_id) if authorization is not None else None
    )
    if authorization is None or institution is None:
        return None
    given_at = session.finished_at or scope.now()
    # Tokens expire by the real clock; a test clock only moves the scope's dates.
    offset = 0 if scope.livemode else scope.clock_offset_seconds
    issued_at = given_at - dt.timedelta(seconds=offset)
    token = consent_token(runtime, scope, HolderType(session.holder_type), holder_id, now=issued_at)
    shared = {p for a in accounts for p in a.permissions}
    return ConsentReceipt(
        bank_name=institution.name,
        accounts=[MaskedAccount(a.display_name, a.last4) for a in accounts],
        permissions=[p for p in PERMISSION_ORDER if p in shared],
        given_at=given_at,
        valid_until=authorization.expected_deactivation_at,
        renewed=link.is_relink,
        consent_url=consent_url(runtime, token),
        emailed=receipt_delivery(db, scope, session.id, link.holder.email),
    )


def _offered(link: HostedLink, shared: Shared) -> list[OfferedAccount]:
    """The accounts to choose from. Already chosen ones stay checked; after an OAuth
    bank's own picker everything shared is checked (up to the limit), to confirm."""
    choices: list[BankAccount] = connect.offered(link.session, shared)
    picked_at_bank = link.institution is not None and link.institution.auth_kind == "oauth"
    if shared.chosen:
        checked = set(shared.chosen)
    elif picked_at_bank or len(choices) == 1:
        checked = {a.stable_id for a in choices[: connect.account_limit(link.session)]}
    else:
        checked = set()
    return [
        OfferedAccount(a.stable_id, a.display_name, a.last4, a.subcategory, a.stable_id in checked)
        for a in choices
    ]


def reason_for(db: DbSession, link: HostedLink) -> Reason | None:
    """The most pressing reason among the session's accounts."""
    now = link.scope.now()
    numbers = AccountRepository(db, link.scope).account_numbers([a.id for a in link.accounts])
    reasons = [
        r
        for a in link.accounts
        if (r := _account_reason(a, numbers.get(a.id, []), now)) is not None
    ]
    return reasons[0] if reasons else None


def _account_reason(
    account: Account, numbers: list[AccountNumber], now: dt.datetime
) -> Reason | None:
    if (
        account.status == ConnectionStatus.inactive
        and account.inactive_action == RelinkAction.relink_required
    ):
        cause = InactiveCause(account.inactive_cause or InactiveCause.unspecified)
        return Reason(INACTIVE_REASONS.get(cause, "connection_lost"))
    for number in numbers:
        expiry = number.expected_expiry_at
        if number.status == TanStatus.expired:
            return Reason("number_expired")
        if number.status == TanStatus.deactivated:
            return Reason("number_deactivated")
        if expiry is not None and expiry - now <= ABOUT_TO_BREAK:
            return Reason("number_expiring", expiry)
    expected = account.expected_deactivation_at
    if (
        account.status == ConnectionStatus.active
        and expected is not None
        and expected - now <= ABOUT_TO_BREAK
    ):
        return Reason("access_ending", expected)
    return None


def _origin(url: str | None) -> list[str]:
    """A form that finishes the session redirects to the return URL (validated when the
    session was created): its origin is a form target too."""
    if not url:
        return []
    parts = urlsplit(url)
    return [f"{parts.scheme}://{parts.netloc}"]


def bank_origins(runtime: Runtime, institutions: list[Institution], scope: Scope) -> list[str]:
    """The origins of the bank pages a form's redirect may lead to (CSP form-action):
    each redirecting institution's authorize (or SCA) pages."""
    origins: list[str] = []
    for institution in institutions:
        if institution.auth_kind != "oauth":
            continue
        try:
            connector = connector_for(runtime, institution, scope)
        except ConnectorUnavailable:
            continue
        for origin in connector.authorization_origins():
            if origin not in origins:
                origins.append(origin)
    return origins
