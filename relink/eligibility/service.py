"""Eligibility of one account for a hosted relink request, with every failed rule's reason."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from relink.eligibility.query import email_given_up
from relink.eligibility.rules import MESSAGES, RECENT_REQUEST, Reason
from relink.kit.clock import to_unix
from relink.models import (
    Account,
    ConnectedAccount,
    ConnectionStatus,
    Customer,
    Institution,
    RelinkAction,
    SessionStatus,
    User,
)
from relink.models import Session as FcSession
from relink.tenancy import Scope


@dataclass(frozen=True)
class Eligibility:
    account_id: str
    reasons: list[Reason] = field(default_factory=list)
    next_eligible_at: dt.datetime | None = None

    @property
    def eligible(self) -> bool:
        return not self.reasons


def holder_email(session: Session, account: Account) -> str | None:
    if account.customer_id is not None:
        # A deleted customer is no longer reachable (its API object has no email either).
        return session.scalar(
            select(Customer.email).where(
                Customer.id == account.customer_id, Customer.deleted.is_(False)
            )
        )
    if account.connected_account_id is not None:
        return session.scalar(
            select(ConnectedAccount.email).where(
                ConnectedAccount.id == account.connected_account_id
            )
        )
    return None


def is_confirmed_team_email(session: Session, platform_id: str, email: str) -> bool:
    return (
        session.scalar(
            select(func.count())
            .select_from(User)
            .where(
                User.platform_id == platform_id,
                User.email_confirmed_at.is_not(None),
                User.email == email.lower(),
            )
        )
        or 0
    ) > 0


def eligible_for_hosted_relink(
    session: Session,
    scope: Scope,
    account: Account,
    now: dt.datetime,
    *,
    delivery_rules: bool = True,
) -> Eligibility:
    """Every failed rule's reason. ``delivery_rules=False`` checks only whether there is
    something to repair (rules 1, disconnected, institution support) and skips the rules
    about emailing the holder (recent request, email on file), and their queries: a
    session delivered by ``url`` needs no more."""
    reasons: list[Reason] = []
    next_eligible_at = None

    repairable = not (
        account.status == ConnectionStatus.inactive
        and account.inactive_action in (None, RelinkAction.none)
    )
    if not repairable:
        reasons.append(Reason.not_repairable)
    elif account.relink_due_at is None or account.relink_due_at > now:
        reasons.append(Reason.not_broken)

    if delivery_rules:
        next_eligible_at = _delivery_reasons(session, scope, account, now, reasons)

    if account.status == ConnectionStatus.disconnected:
        reasons.append(Reason.disconnected)
    supports = session.scalar(
        select(Institution.supports_relink).where(Institution.id == account.institution_id)
    )
    if not supports:
        reasons.append(Reason.institution_unsupported)
    return Eligibility(account.id, reasons, next_eligible_at)


def _delivery_reasons(
    session: Session, scope: Scope, account: Account, now: dt.datetime, reasons: list[Reason]
) -> dt.datetime | None:
    """Rules 2 and 3 (no recent request, a reachable holder): appended to ``reasons``;
    returns when the account is next eligible after a recent request."""
    next_eligible_at = None
    latest_pending = session.scalar(
        select(func.max(FcSession.created_at)).where(
            FcSession.relink_account_id == account.id,
            FcSession.status == SessionStatus.pending,
            FcSession.delivery_method == "email",
            FcSession.created_at > now - RECENT_REQUEST,
            ~email_given_up(),
        )
    )
    if latest_pending is not None:
        reasons.append(Reason.recent_request)
        next_eligible_at = latest_pending + RECENT_REQUEST

    email = holder_email(session, account)
    if not email:
        reasons.append(Reason.missing_email)
    elif not scope.livemode and not is_confirmed_team_email(session, scope.platform_id, email):
        reasons.append(Reason.unconfirmed_test_email)
    return next_eligible_at


def render_eligibility(result: Eligibility) -> dict[str, object]:
    return {
        "object": "financial_connections.relink_eligibility",
        "account": result.account_id,
        "eligible": result.eligible,
        "reasons": [
            {"code": reason.value, "message": MESSAGES[reason]} for reason in result.reasons
        ],
        "next_eligible_at": to_unix(result.next_eligible_at),
    }
