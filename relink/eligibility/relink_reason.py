"""Why an account needs a hosted relink, recorded on each relink session when it is
created (``sessions.relink_reason``), so the outreach report can count repairs by reason
after the repair has cleared the account's own status.

One SQL expression decides it, for the bulk request's ``INSERT`` and for the single
session alike: the account's inactive cause when it is broken, else what is about to
break (its account number, then its consent).
"""

from __future__ import annotations

import enum
from typing import Any

from sqlalchemy import ColumnElement, case, exists, func

from relink.models import Account, AccountNumber, ConnectionStatus, RelinkAction, TanStatus


class RelinkReason(enum.StrEnum):
    access_denied = "access_denied"
    access_expired = "access_expired"
    account_unavailable = "account_unavailable"
    institution_requirement = "institution_requirement"
    unspecified = "unspecified"
    account_number_expired = "account_number_expired"
    account_number_expiring = "account_number_expiring"
    access_ending = "access_ending"
    other = "other"


LABELS: dict[str, str] = {
    RelinkReason.access_denied: "Access revoked",
    RelinkReason.access_expired: "Consent expired",
    RelinkReason.account_unavailable: "Account unavailable at the bank",
    RelinkReason.institution_requirement: "Bank asked to sign in again",
    RelinkReason.unspecified: "Connection lost (no reason given)",
    RelinkReason.account_number_expired: "Account number expired",
    RelinkReason.account_number_expiring: "Account number expiring",
    RelinkReason.access_ending: "Consent about to end",
    RelinkReason.other: "Other",
}
# Sessions created before reasons were recorded, and sessions of a whole authorization.
NOT_RECORDED = "Not recorded"


def label(reason: str | None) -> str:
    return LABELS.get(reason or "", NOT_RECORDED)


def relink_reason_column() -> ColumnElement[Any]:
    """The account's relink reason, as a column of a ``SELECT`` over ``accounts``."""
    number = AccountNumber.account_id == Account.id
    return case(
        (
            (Account.status == ConnectionStatus.inactive)
            & (Account.inactive_action == RelinkAction.relink_required),
            func.coalesce(Account.inactive_cause, RelinkReason.unspecified.value),
        ),
        (
            exists().where(
                number, AccountNumber.status.in_([TanStatus.expired, TanStatus.deactivated])
            ),
            RelinkReason.account_number_expired.value,
        ),
        (
            exists().where(number, AccountNumber.expected_expiry_at.is_not(None)),
            RelinkReason.account_number_expiring.value,
        ),
        (Account.expected_deactivation_at.is_not(None), RelinkReason.access_ending.value),
        else_=RelinkReason.other.value,
    )
