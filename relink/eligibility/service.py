"""Eligibility of one account for a hosted relink request, with every failed rule's reason.

The rules are those of :func:`relink.eligibility.query.rules`, evaluated for the one
account in one statement; only "when may it be asked again" is read here.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from relink.eligibility.query import failed_reasons, open_recent_request
from relink.eligibility.rules import MESSAGES, RECENT_REQUEST, Reason
from relink.kit.clock import to_unix
from relink.models import (
    Account,
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
    reasons = failed_reasons(session, scope, account.id, now, delivery_rules=delivery_rules)
    next_eligible_at = None
    if Reason.recent_request in reasons:
        latest_pending = session.scalar(
            select(func.max(FcSession.created_at)).where(
                FcSession.relink_account_id == account.id, *open_recent_request(now)
            )
        )
        # (None only if the request ended between the two statements.)
        next_eligible_at = None if latest_pending is None else latest_pending + RECENT_REQUEST
    return Eligibility(account.id, reasons, next_eligible_at)


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
