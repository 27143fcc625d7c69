"""Eligibility of many accounts at once, in SQL (spec 20-relink §1).

:func:`eligible_accounts` returns a scoped ``SELECT`` of accounts that may receive a
hosted relink request now; the dashboard pages it and the bulk request streams it.
The conditions mirror :mod:`relink.eligibility.service` rule by rule; a test checks
that both agree on every kind of account.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Select, and_, exists, func, not_, or_, select

from relink.eligibility.rules import RECENT_REQUEST
from relink.models import (
    Account,
    ConnectedAccount,
    ConnectionStatus,
    Customer,
    DeliveryState,
    EmailDelivery,
    Institution,
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
    return exists().where(
        EmailDelivery.session_id == Session.id, EmailDelivery.state == DeliveryState.failed
    )


def pending_recent_request(now: dt.datetime) -> Any:
    return exists().where(
        Session.relink_account_id == Account.id,
        Session.status == SessionStatus.pending,
        Session.delivery_method == "email",
        Session.created_at > now - RECENT_REQUEST,
        not_(email_given_up()),
    )


def eligibility_conditions(scope: Scope, now: dt.datetime) -> list[Any]:
    return [
        Account.relink_due_at <= now,
        Account.status != ConnectionStatus.disconnected,
        not_(
            and_(
                Account.status == ConnectionStatus.inactive,
                or_(
                    Account.inactive_action.is_(None), Account.inactive_action == RelinkAction.none
                ),
            )
        ),
        not_(pending_recent_request(now)),
        reachable_holder(scope),
        Account.institution_id.in_(
            select(Institution.id).where(Institution.supports_relink.is_(True))
        ),
    ]


def eligible_accounts(scope: Scope, now: dt.datetime) -> Select[Account]:
    return select(Account).where(
        in_scope(Account, scope),
        *eligibility_conditions(scope, now),
    )
