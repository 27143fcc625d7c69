"""The link flow's own steps (spec 10-api "Sessions", 30-banks §3 "link completes").

A link session (no ``relink_options``) runs on the hosted flow's machinery
(:mod:`relink.hosted.flow`) with three steps of its own:

pick institution (skipped with ``filters[institution]``) ──▶ authenticate (as a relink)
──▶ choose accounts ──▶ consent ──▶ :func:`link_accounts`: the authorization and accounts
``active``, their account numbers fetched, ``account.created``, the session ``succeeded``
with its ``accounts``.

Between authenticating and consenting, the grant and what the bank shares wait sealed in
``HostedFlow.sealed`` (:class:`Shared`); nothing is stored in the open before consent.
"""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session as DbSession

from relink.authorizations.consent import grant_detail, record_consent
from relink.connectors.base import BankAccount, Grant, Tan
from relink.email.consent_receipt import queue_consent_receipt
from relink.hosted.links import HostedLink
from relink.institutions.repository import InstitutionRepository
from relink.kit import ids
from relink.kit.provenance import EventContext
from relink.lifecycle.grants import store_grant
from relink.lifecycle.service import Lifecycle
from relink.models import (
    Account,
    Authorization,
    ConnectionStatus,
    ConsentActor,
    ConsentKind,
    EventType,
    Institution,
    Session,
    SessionStatus,
)
from relink.runtime import Runtime
from relink.sessions.service import SessionService

EXPECTED_DEACTIVATION_CAUSE = "access_expired"
DEFAULT_ACCOUNT_LIMIT = 100


class ChoiceRefused(enum.StrEnum):
    none_chosen = "none_chosen"
    no_payment_account = "no_payment_account"
    too_many = "too_many_accounts"
    unknown = "unknown_account"


@dataclass
class Shared:
    """What an authentication produced, kept sealed until the holder consents."""

    grant: Grant
    bank_user: str | None
    accounts: list[BankAccount]
    chosen: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        return {
            "grant": self.grant.serialize().decode(),
            "bank_user": self.bank_user,
            "accounts": [dataclasses.asdict(a) for a in self.accounts],
            "chosen": self.chosen,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Shared | None:
        if "grant" not in data:
            return None
        return cls(
            grant=Grant.deserialize(str(data["grant"]).encode()),
            bank_user=data.get("bank_user"),
            accounts=[BankAccount(**a) for a in data.get("accounts", [])],
            chosen=[str(c) for c in data.get("chosen", [])],
        )


# --------------------------------------------------------------------------- institution


def institutions_to_pick(db: DbSession, link: HostedLink, query: str | None) -> list[Institution]:
    """The scope's institutions by name, within filters[countries], matching ``query``."""
    countries = set((link.session.filters or {}).get("countries") or [])
    found = [
        institution
        for institution in db.scalars(
            InstitutionRepository(db, link.scope.livemode).offered().order_by(Institution.name)
        )
        if not countries or countries & set(institution.countries)
    ]
    needle = (query or "").strip().casefold()
    return [i for i in found if needle in i.name.casefold()] if needle else found


def pickable(db: DbSession, link: HostedLink, institution_id: str) -> Institution | None:
    """The institution the holder may link at: the fixed one, else one of the list."""
    fixed = link.fixed_institution_id
    if fixed is not None and institution_id != fixed:
        return None
    return next((i for i in institutions_to_pick(db, link, None) if i.id == institution_id), None)


# --------------------------------------------------------------------------- accounts


def offered(session: Session, shared: Shared) -> list[BankAccount]:
    """The shared accounts the holder may choose: within filters[account_subcategories],
    and only payment-capable ones under filters[require_payment_method_support]=all."""
    filters = session.filters or {}
    subcategories = filters.get("account_subcategories")
    payment_only = filters.get("require_payment_method_support") == "all"
    return [
        a
        for a in shared.accounts
        if (not subcategories or a.subcategory in subcategories)
        and (a.supports_ach or not payment_only)
    ]


def account_limit(session: Session) -> int:
    return int((session.limits or {}).get("accounts", DEFAULT_ACCOUNT_LIMIT))


def check_choice(session: Session, shared: Shared, chosen: list[str]) -> ChoiceRefused | None:
    allowed = {a.stable_id for a in offered(session, shared)}
    if not chosen:
        return ChoiceRefused.none_chosen
    if not set(chosen) <= allowed:
        return ChoiceRefused.unknown
    if len(set(chosen)) > account_limit(session):
        return ChoiceRefused.too_many
    if (session.filters or {}).get("require_payment_method_support") == "at_least_one" and not any(
        a.supports_ach for a in shared.accounts if a.stable_id in chosen
    ):
        return ChoiceRefused.no_payment_account
    return None


def chosen_accounts(session: Session, shared: Shared) -> list[BankAccount]:
    chosen = set(shared.chosen)
    return [a for a in offered(session, shared) if a.stable_id in chosen]


# --------------------------------------------------------------------------- consent


def link_accounts(
    db: DbSession,
    link: HostedLink,
    *,
    runtime: Runtime,
    context: EventContext,
    shared: Shared,
    numbers: dict[str, Tan],
) -> list[Account]:
    """The holder pressed "Link accounts": create the authorization (its grant sealed) and
    the chosen accounts, and the session succeeds with them."""
    session, scope, institution = link.session, link.scope, link.institution
    assert institution is not None
    lifecycle = Lifecycle(db, scope, context)
    now = scope.now()
    expected = shared.grant.expected_deactivation_date
    authorization = Authorization(
        id=ids.new("fcauth"),
        institution_id=institution.id,
        holder_type=session.holder_type,
        customer_id=session.customer_id,
        connected_account_id=session.connected_account_id,
        status=ConnectionStatus.active,
        expected_deactivation_at=expected,
        expected_deactivation_cause=EXPECTED_DEACTIVATION_CAUSE if expected else None,
        bank_user=shared.bank_user,
        authenticated_at=now,
        created_at=now,
        updated_at=now,
    )
    store_grant(runtime, authorization, shared.grant)
    lifecycle.authorizations.add(authorization)
    # No relationship() links the models: insert the authorization before its accounts.
    db.flush()
    accounts = [
        add_account(lifecycle, session, authorization, b, numbers.get(b.stable_id))
        for b in chosen_accounts(session, shared)
    ]
    record_consent(
        db,
        scope,
        authorization,
        ConsentKind.granted,
        ConsentActor.holder,
        {**grant_detail(authorization, accounts, session.permissions), "session": session.id},
        at=now,
    )
    queue_consent_receipt(db, scope, session.id, authorization.id)
    session.collected_account_ids = [a.id for a in accounts]
    SessionService(db, scope, runtime, context).finish(session, SessionStatus.succeeded)
    return accounts


def add_account(
    lifecycle: Lifecycle,
    session: Session,
    authorization: Authorization,
    bank_account: BankAccount,
    tan: Tan | None,
) -> Account:
    """A newly shared account of ``authorization``: active, with the ACH number the bank
    reported, its relink due date, and ``account.created``."""
    db, scope = lifecycle.session, lifecycle.scope
    now = scope.now()
    permissions = list(session.permissions)
    account = Account(
        id=ids.new("fca"),
        authorization_id=authorization.id,
        institution_id=authorization.institution_id,
        holder_type=authorization.holder_type,
        customer_id=authorization.customer_id,
        connected_account_id=authorization.connected_account_id,
        session_id=session.id,
        bank_account_id=bank_account.stable_id,
        display_name=bank_account.display_name or None,
        last4=bank_account.last4[-4:] or None,
        category=bank_account.category,
        subcategory=bank_account.subcategory,
        status=ConnectionStatus.active,
        expected_deactivation_at=authorization.expected_deactivation_at,
        expected_deactivation_cause=authorization.expected_deactivation_cause,
        permissions=permissions,
        supported_payment_method_types=(
            ["us_bank_account"]
            if "payment_method" in permissions and bank_account.supports_ach
            else []
        ),
        created_at=now,
        updated_at=now,
    )
    lifecycle.accounts.add(account)
    db.flush()
    number = lifecycle.add_account_number(account, tan) if tan is not None else None
    lifecycle.refresh_relink_due(account)
    lifecycle.emit_account_event(EventType.account_created, account)
    if number is not None:
        lifecycle.warn_upcoming_expiry(account, number)
    return account
