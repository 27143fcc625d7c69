"""Plain factory functions for eligibility tests: rows built directly with the models.

Accounts start active with a customer holder; tests then move them with the real
:class:`relink.lifecycle.service.Lifecycle` transitions, so ``relink_due_at`` is always
computed the way production computes it.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from relink.eligibility.query import eligible_accounts
from relink.eligibility.service import Eligibility, eligible_for_hosted_relink
from relink.kit import ids
from relink.kit.crypto import token_digest
from relink.kit.provenance import EventContext
from relink.lifecycle.service import Lifecycle
from relink.models import (
    Account,
    Authorization,
    ConnectedAccount,
    ConnectionStatus,
    Customer,
    HolderType,
    Institution,
    InstitutionHealth,
    Platform,
    Role,
    SessionStatus,
    User,
)
from relink.models import Session as FcSession
from relink.runtime import Runtime
from relink.tenancy import Scope

NOW = dt.datetime(2026, 3, 2, 12, 0, tzinfo=dt.UTC)
CONTEXT = EventContext()
SANDBOX_INSTITUTION = "fcinst_bank_oauth"


def scope_of(platform_id: str, *, livemode: bool = False) -> Scope:
    return Scope(platform_id, livemode)


def lifecycle(session: Session, scope: Scope) -> Lifecycle:
    return Lifecycle(session, scope, CONTEXT)


def create_institution(
    session: Session,
    *,
    livemode: bool,
    supports_relink: bool,
    health: InstitutionHealth = InstitutionHealth.active,
) -> Institution:
    institution = Institution(
        id=f"fcinst_eligibility_{secrets.token_hex(6)}",
        livemode=livemode,
        connector="sandbox",
        connector_key="bank_oauth",
        settings={"base_url": "{sandbox_bank_url}", "institution": "bank_oauth"},
        name="Eligibility Test Bank",
        supports_relink=supports_relink,
        health=health,
        created_at=NOW,
    )
    session.add(institution)
    session.flush()
    return institution


def create_book(runtime: Runtime) -> Book:
    """A fresh platform plus the test's own institutions (global: remove them with
    :func:`delete_book_institutions`): one without relink support, one live, and one whose
    bank is in trouble."""
    with runtime.database.unit_of_work() as session:
        platform, owner = create_platform(session)
        unsupported = create_institution(session, livemode=False, supports_relink=False).id
        live = create_institution(session, livemode=True, supports_relink=True).id
        unavailable = create_institution(
            session, livemode=False, supports_relink=True, health=InstitutionHealth.degraded
        ).id
    return Book(runtime, platform.id, owner.email, unsupported, live, unavailable)


def delete_book_institutions(runtime: Runtime, book: Book) -> None:
    with runtime.database.unit_of_work() as session:
        for institution_id in (
            book.unsupported_institution,
            book.live_institution,
            book.unavailable_institution,
        ):
            delete_institution(session, institution_id)


def delete_institution(session: Session, institution_id: str) -> None:
    """Remove a test-only institution and every connection made at it."""
    account_ids = select(Account.id).where(Account.institution_id == institution_id)
    session.execute(delete(FcSession).where(FcSession.relink_account_id.in_(account_ids)))
    session.execute(delete(Account).where(Account.institution_id == institution_id))
    session.execute(delete(Authorization).where(Authorization.institution_id == institution_id))
    session.execute(delete(Institution).where(Institution.id == institution_id))


def create_customer(session: Session, scope: Scope, email: str | None) -> Customer:
    customer = Customer(
        id=ids.new("cus"),
        platform_id=scope.platform_id,
        livemode=scope.livemode,
        email=email,
        created_at=scope.now(),
    )
    session.add(customer)
    session.flush()
    return customer


def create_connected_account(session: Session, scope: Scope, email: str | None) -> ConnectedAccount:
    connected = ConnectedAccount(
        id=ids.new("acct"),
        platform_id=scope.platform_id,
        livemode=scope.livemode,
        email=email,
        created_at=scope.now(),
    )
    session.add(connected)
    session.flush()
    return connected


def create_team_user(
    session: Session, platform_id: str, email: str | None = None, *, confirmed: bool
) -> User:
    """A team user (without a usable password: eligibility only reads emails)."""
    user = User(
        id=ids.new("user"),
        platform_id=platform_id,
        email=email or f"user-{secrets.token_hex(6)}@example.com",
        password_hash="!",
        role=Role.viewer,
        email_confirmed_at=NOW if confirmed else None,
        created_at=NOW,
    )
    session.add(user)
    session.flush()
    return user


def create_platform(session: Session) -> tuple[Platform, User]:
    """A platform and its confirmed owner."""
    platform = Platform(id=ids.new("acct"), name="Acme Lending", created_at=NOW)
    session.add(platform)
    session.flush()
    owner = create_team_user(session, platform.id, confirmed=True)
    owner.role = Role.owner
    return platform, owner


def create_account(
    session: Session,
    scope: Scope,
    *,
    institution_id: str = SANDBOX_INSTITUTION,
    customer: Customer | None = None,
    connected_account: ConnectedAccount | None = None,
) -> Account:
    """An active account (and its authorization) held by a customer or connected account."""
    now = scope.now()
    holder_type = HolderType.account if connected_account is not None else HolderType.customer
    customer_id = customer.id if customer is not None else None
    connected_id = connected_account.id if connected_account is not None else None
    authorization = Authorization(
        id=ids.new("fcauth"),
        platform_id=scope.platform_id,
        livemode=scope.livemode,
        institution_id=institution_id,
        holder_type=holder_type,
        customer_id=customer_id,
        connected_account_id=connected_id,
        status=ConnectionStatus.active,
        authenticated_at=now,
        created_at=now,
        updated_at=now,
    )
    account = Account(
        id=ids.new("fca"),
        platform_id=scope.platform_id,
        livemode=scope.livemode,
        authorization_id=authorization.id,
        institution_id=institution_id,
        holder_type=holder_type,
        customer_id=customer_id,
        connected_account_id=connected_id,
        bank_account_id="eligibility_" + secrets.token_hex(8),
        status=ConnectionStatus.active,
        permissions=["payment_method"],
        created_at=now,
        updated_at=now,
    )
    session.add(authorization)
    session.flush()
    session.add(account)
    session.flush()
    lifecycle(session, scope).refresh_relink_due(account)
    return account


def create_relink_request(
    session: Session,
    account: Account,
    *,
    created_at: dt.datetime,
    status: SessionStatus = SessionStatus.pending,
) -> FcSession:
    """A hosted relink session delivered by email, as the API or dashboard creates one."""
    finished = status != SessionStatus.pending
    request = FcSession(
        id=ids.new("fcsess"),
        platform_id=account.platform_id,
        livemode=account.livemode,
        holder_type=account.holder_type,
        customer_id=account.customer_id,
        connected_account_id=account.connected_account_id,
        client_secret_digest=token_digest("fcsess_client_secret_" + secrets.token_urlsafe(16)),
        permissions=list(account.permissions),
        ui_mode="hosted",
        delivery_method="email",
        relink_authorization_id=account.authorization_id,
        relink_account_id=account.id,
        status=status,
        created_at=created_at,
        updated_at=created_at,
        finished_at=created_at if finished else None,
    )
    session.add(request)
    session.flush()
    return request


class _Owner:
    """Marks "the holder's email is the platform owner's (a confirmed team user)"."""


OWNER = _Owner()


@dataclass
class Builder:
    """What a case builder gets: one open session and the platform's test institutions."""

    session: Session
    platform_id: str
    owner_email: str
    unsupported_institution: str
    live_institution: str
    unavailable_institution: str

    def scope(self, *, livemode: bool = False) -> Scope:
        return scope_of(self.platform_id, livemode=livemode)

    def lifecycle(self, *, livemode: bool = False) -> Lifecycle:
        return lifecycle(self.session, self.scope(livemode=livemode))

    def account(
        self,
        *,
        email: str | _Owner | None = OWNER,
        livemode: bool = False,
        connected: bool = False,
        institution_id: str | None = None,
    ) -> Account:
        """An active account whose holder's email is ``email`` (by default the owner's)."""
        scope = self.scope(livemode=livemode)
        address = self.owner_email if isinstance(email, _Owner) else email
        if institution_id is None:
            institution_id = self.live_institution if livemode else SANDBOX_INSTITUTION
        if connected:
            holder = create_connected_account(self.session, scope, address)
            return create_account(
                self.session, scope, institution_id=institution_id, connected_account=holder
            )
        customer = create_customer(self.session, scope, address)
        return create_account(self.session, scope, institution_id=institution_id, customer=customer)


CaseBuilder = Callable[[Builder], Account]


@dataclass
class Book:
    """A platform's sandbox book for one test: build accounts, then ask both implementations."""

    runtime: Runtime
    platform_id: str
    owner_email: str
    unsupported_institution: str
    live_institution: str
    unavailable_institution: str

    @contextmanager
    def builder(self) -> Iterator[Builder]:
        with self.runtime.database.unit_of_work() as session:
            yield Builder(
                session,
                self.platform_id,
                self.owner_email,
                self.unsupported_institution,
                self.live_institution,
                self.unavailable_institution,
            )

    def build(self, case: CaseBuilder) -> Account:
        with self.builder() as builder:
            return case(builder)

    def check(self, account_id: str, now: dt.datetime = NOW) -> Eligibility:
        """The single-account answer, read back from the database."""
        with self.runtime.database.read_only() as session:
            account = session.get(Account, account_id)
            assert account is not None
            scope = scope_of(account.platform_id, livemode=account.livemode)
            return eligible_for_hosted_relink(session, scope, account, now)

    def bulk(self, *, livemode: bool = False, now: dt.datetime = NOW) -> set[str]:
        """Ids of the accounts the bulk SQL query calls eligible."""
        scope = scope_of(self.platform_id, livemode=livemode)
        with self.runtime.database.read_only() as session:
            return {account.id for account in session.scalars(eligible_accounts(scope, now))}
