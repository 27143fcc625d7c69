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
    Institution,
    RelinkAction,
    Session,
    SessionStatus,
    User,
)
from relink.tenancy import Scope


def holder_email_column() -> Any:
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


def pending_recent_request(now: dt.datetime) -> Any:
    return exists().where(
        Session.relink_account_id == Account.id,
        Session.status == SessionStatus.pending,
        Session.delivery_method == "email",
        Session.created_at > now - RECENT_REQUEST,
    )


def eligibility_conditions(scope: Scope, now: dt.datetime) -> list[Any]:
    email = holder_email_column()
    conditions: list[Any] = [
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
        email.is_not(None),
        email != "",
        exists().where(
            Institution.id == Account.institution_id, Institution.supports_relink.is_(True)
        ),
    ]
    if not scope.livemode:
        conditions.append(
            exists().where(
                User.platform_id == scope.platform_id,
                User.email_confirmed_at.is_not(None),
                User.email == func.lower(email),
            )
        )
    return conditions


def eligible_accounts(scope: Scope, now: dt.datetime) -> Select[Account]:
    return select(Account).where(
        Account.platform_id == scope.platform_id,
        Account.livemode == scope.livemode,
        *eligibility_conditions(scope, now),
    )
