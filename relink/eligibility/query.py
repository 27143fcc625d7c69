"""The rules of hosted relink eligibility in SQL, each written once (spec 20-relink §1).

:func:`rules` gives, per reason, the SQL condition under which an account fails it. The
same conditions answer every question Relink asks about eligibility:

- the single-account answer (:mod:`relink.eligibility.service`) evaluates them for one
  account, in one statement, and lists every failed rule's reason;
- :func:`eligibility_conditions` / :func:`eligible_accounts` are "fails none of them", the
  filter the dashboard pages and the bulk request streams;
- :func:`skip_reason` is the one reason a bulk request reports for a skipped account
  (the first failed rule in :data:`REASON_PRIORITY`), for its skip counts.

A rule may carry a second form for the eligible filter (``passes``), written for the
query plan (an index-backed set instead of a correlated test); it is the same rule, and the
tests build one account of every kind and check all of these answers agree with the
expected reasons.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, case, exists, func, not_, or_, select
from sqlalchemy.orm import Session as DbSession

from relink.eligibility.rules import RECENT_REQUEST, Reason
from relink.models import (
    GIVEN_UP,
    Account,
    ConnectedAccount,
    ConnectionStatus,
    Customer,
    EmailDelivery,
    EmailSuppression,
    Institution,
    InstitutionHealth,
    RelinkAction,
    Session,
    SessionStatus,
    User,
)
from relink.tenancy import Scope, in_scope


def holder_email_column() -> Any:
    """The account holder's email, as a correlated expression (for telling reasons apart
    per account, e.g. in the bulk request's skip counts)."""
    # Correlated explicitly: the column is also used two levels deep (inside the
    # EXISTS over team users), where auto-correlation would not reach ``accounts``.
    return func.coalesce(
        select(Customer.email)
        .where(Customer.id == Account.customer_id, Customer.deleted.is_(False))
        .correlate(Account)
        .scalar_subquery(),
        select(ConnectedAccount.email)
        .where(ConnectedAccount.id == Account.connected_account_id)
        .correlate(Account)
        .scalar_subquery(),
    )


def reachable_holder(scope: Scope) -> Any:
    """Rule 3: the account's holder has an email (in test mode, one of the platform's
    confirmed team addresses).

    Live mode: most holders have an email, so the check is a correlated primary-key
    lookup on the few rows the first page scans. Test mode: few holders use a team
    address, so the team's customers and connected accounts are found once (through the
    lower(email) indexes) into a hash set and each scanned row costs a hash probe."""
    if scope.livemode:
        customer = exists().where(
            Customer.id == Account.customer_id,
            Customer.deleted.is_(False),
            Customer.email.is_not(None),
            Customer.email != "",
        )
        connected = exists().where(
            ConnectedAccount.id == Account.connected_account_id,
            ConnectedAccount.email.is_not(None),
            ConnectedAccount.email != "",
        )
        return or_(customer, connected)
    team = select(User.email).where(
        User.platform_id == scope.platform_id, User.email_confirmed_at.is_not(None)
    )
    team_customers = select(Customer.id).where(
        Customer.platform_id == scope.platform_id,
        Customer.livemode.is_(False),
        Customer.deleted.is_(False),
        func.lower(Customer.email).in_(team),
    )
    team_connected = select(ConnectedAccount.id).where(
        ConnectedAccount.platform_id == scope.platform_id,
        ConnectedAccount.livemode.is_(False),
        func.lower(ConnectedAccount.email).in_(team),
    )
    # As a set of account ids, so PostgreSQL can start from the (few) team holders'
    # accounts instead of walking every broken account of the scope.
    team_accounts = (
        select(Account.id)
        .where(Account.customer_id.in_(team_customers))
        .union(select(Account.id).where(Account.connected_account_id.in_(team_connected)))
    )
    return Account.id.in_(team_accounts)


def email_given_up() -> Any:
    """The session's email was finally given up (a permanent refusal, or transient
    failures for longer than the retry window): the holder never got the request, so it
    does not count as an open one and the account may be asked again."""
    return exists().where(EmailDelivery.session_id == Session.id, EmailDelivery.state.in_(GIVEN_UP))


def suppressed_address(scope: Scope, now: dt.datetime, address: Any) -> Any:
    """``address`` is on the scope's suppression list (an email to it bounced for good,
    or its holder complained, or it failed again and again over days)."""
    return exists().where(
        EmailSuppression.platform_id == scope.platform_id,
        EmailSuppression.livemode.is_(scope.livemode),
        EmailSuppression.address == func.lower(address),
        EmailSuppression.suppressed_at.is_not(None),
        EmailSuppression.lifted_at.is_(None),
        or_(EmailSuppression.until.is_(None), EmailSuppression.until > now),
    )


def open_recent_request(now: dt.datetime) -> list[ColumnElement[bool]]:
    """A session is an open recent request: a pending hosted email request younger than
    :data:`RECENT_REQUEST` whose email was not given up."""
    return [
        Session.status == SessionStatus.pending,
        Session.delivery_method == "email",
        Session.created_at > now - RECENT_REQUEST,
        not_(email_given_up()),
    ]


def pending_recent_request(now: dt.datetime) -> Any:
    return exists().where(Session.relink_account_id == Account.id, *open_recent_request(now))


@dataclass(frozen=True)
class Rule:
    """One eligibility rule: the reason it gives and when an account fails it."""

    reason: Reason
    fails: ColumnElement[bool]
    # A rule about emailing the holder (a session delivered by url skips these).
    delivery: bool = False
    # The rule as "the account passes", written for the eligible filter's plan; ``None``
    # means ``NOT fails``. Equal to ``NOT fails`` wherever the rules before it pass.
    passes: ColumnElement[bool] | None = None

    @property
    def passing(self) -> ColumnElement[bool]:
        return not_(self.fails) if self.passes is None else self.passes


def not_repairable() -> ColumnElement[bool]:
    return and_(
        Account.status == ConnectionStatus.inactive,
        or_(Account.inactive_action.is_(None), Account.inactive_action == RelinkAction.none),
    )


def rules(scope: Scope, now: dt.datetime) -> tuple[Rule, ...]:
    """Every rule, in the order the single-account answer lists their reasons.

    Reasons that would say the same thing twice are exclusive: an account that cannot be
    repaired is not also "not broken", and a holder without an email is not also
    "not a confirmed team address"."""
    email = holder_email_column()
    has_email = and_(email.is_not(None), email != "")
    every: list[Rule] = [
        Rule(Reason.not_repairable, not_repairable()),
        Rule(
            Reason.not_broken,
            and_(
                not_(not_repairable()),
                or_(Account.relink_due_at.is_(None), Account.relink_due_at > now),
            ),
            # Eligible accounts are due by now: the relink_due_at index finds them.
            passes=Account.relink_due_at <= now,
        ),
        Rule(Reason.recent_request, pending_recent_request(now), delivery=True),
        Rule(
            Reason.missing_email,
            not_(has_email),
            delivery=True,
            passes=reachable_holder(scope) if scope.livemode else None,
        ),
    ]
    if not scope.livemode:
        team_address = exists().where(
            User.platform_id == scope.platform_id,
            User.email_confirmed_at.is_not(None),
            User.email == func.lower(email),
        )
        every.append(
            Rule(
                Reason.unconfirmed_test_email,
                and_(has_email, not_(team_address)),
                delivery=True,
                passes=reachable_holder(scope),
            )
        )
    every += [
        Rule(
            Reason.email_undeliverable,
            and_(has_email, suppressed_address(scope, now, email)),
            delivery=True,
        ),
        Rule(Reason.disconnected, Account.status == ConnectionStatus.disconnected),
        Rule(
            Reason.institution_unsupported,
            not_(
                exists().where(
                    Institution.id == Account.institution_id,
                    Institution.supports_relink.is_(True),
                )
            ),
        ),
        # An outage is not the holder's to fix: no email while the bank is in trouble
        # (a url session, which the holder opens when they choose, is still allowed).
        Rule(
            Reason.institution_unavailable,
            exists().where(
                Institution.id == Account.institution_id,
                Institution.supports_relink.is_(True),
                Institution.health != InstitutionHealth.active,
            ),
            delivery=True,
        ),
    ]
    return tuple(every)


def eligibility_conditions(scope: Scope, now: dt.datetime) -> list[ColumnElement[bool]]:
    """The account fails no rule."""
    return [rule.passing for rule in rules(scope, now)]


def eligible_accounts(scope: Scope, now: dt.datetime) -> Select[Account]:
    return select(Account).where(
        in_scope(Account, scope),
        *eligibility_conditions(scope, now),
    )


def failed_reasons(
    session: DbSession,
    scope: Scope,
    account_id: str,
    now: dt.datetime,
    *,
    delivery_rules: bool = True,
) -> list[Reason]:
    """The reasons of every rule one account fails, in :func:`rules` order."""
    checked = [rule for rule in rules(scope, now) if delivery_rules or not rule.delivery]
    row = session.execute(
        select(*[case((rule.fails, True), else_=False) for rule in checked]).where(
            Account.id == account_id
        )
    ).one()
    return [rule.reason for rule, failed in zip(checked, row, strict=True) if failed]


# The one skip reason shown for an account that fails several rules: the first of these.
REASON_PRIORITY: tuple[Reason, ...] = (
    Reason.disconnected,
    Reason.not_repairable,
    Reason.institution_unsupported,
    Reason.not_broken,
    Reason.institution_unavailable,
    Reason.recent_request,
    Reason.missing_email,
    Reason.unconfirmed_test_email,
    Reason.email_undeliverable,
)


def primary_reason(reasons: Iterable[Reason]) -> Reason | None:
    """The reason a bulk request reports for an account failing ``reasons``."""
    present = set(reasons)
    return next((reason for reason in REASON_PRIORITY if reason in present), None)


def skip_reason(scope: Scope, now: dt.datetime) -> ColumnElement[str | None]:
    """The account's skip reason code (:func:`primary_reason` of its failed rules), or
    ``NULL`` when it is eligible."""
    by_reason = {rule.reason: rule for rule in rules(scope, now)}
    return case(
        *[
            (by_reason[reason].fails, reason.value)
            for reason in REASON_PRIORITY
            if reason in by_reason
        ],
        else_=None,
    )
