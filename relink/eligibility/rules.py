"""The rules of hosted relink eligibility, their windows and reason codes.

Rule 1 ("broken or about to break") is stored on each account as ``relink_due_at``:
the moment the account starts to need a relink. :func:`relink_due_at` is the one
definition of it; the single-account answer and the bulk SQL both read the column,
so they cannot disagree, and the bulk query can use an index.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Iterable

from relink.models import Account, AccountNumber, ConnectionStatus, RelinkAction, TanStatus

# A TAN or an expected deactivation this close makes an account "about to break".
ABOUT_TO_BREAK = dt.timedelta(days=30)
# No second hosted relink request this soon after one that is still pending.
RECENT_REQUEST = dt.timedelta(hours=48)
# "Already broken" is stored as this instant, so it is <= any real "now".
BROKEN_SINCE_EVER = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


class Reason(enum.StrEnum):
    not_broken = "not_broken"
    not_repairable = "not_repairable"
    disconnected = "disconnected"
    recent_request = "recent_request"
    missing_email = "missing_email"
    unconfirmed_test_email = "unconfirmed_test_email"
    institution_unsupported = "institution_unsupported"
    institution_unavailable = "institution_unavailable"
    email_undeliverable = "email_undeliverable"


MESSAGES: dict[Reason, str] = {
    Reason.not_broken: "The account's connection is working and nothing is about to expire.",
    Reason.not_repairable: "The account cannot be repaired by relinking (for example, it was closed).",
    Reason.disconnected: "The account was disconnected; it needs a new link, not a relink.",
    Reason.recent_request: (
        "A relink request for this account was made less than 48 hours ago and is still open "
        "(its email was sent or is still being retried)."
    ),
    Reason.missing_email: "The account holder has no email address on file.",
    Reason.unconfirmed_test_email: (
        "In test mode, relink emails go only to confirmed team members' addresses; "
        "the holder's email is not one of them."
    ),
    Reason.institution_unsupported: "The account's institution does not support relink.",
    Reason.email_undeliverable: (
        "Emails to the account holder's address bounced; it is on the suppression list "
        "until the address is changed or an operator lifts it."
    ),
    Reason.institution_unavailable: (
        "The bank is having trouble; a relink would not help now. Relink asks again once "
        "the bank is back."
    ),
}


def relink_due_at(account: Account, numbers: Iterable[AccountNumber]) -> dt.datetime | None:
    """When the account becomes broken or about to break; ``None`` if nothing is foreseen."""
    moments: list[dt.datetime] = []
    if (
        account.status == ConnectionStatus.inactive
        and account.inactive_action == RelinkAction.relink_required
    ):
        moments.append(BROKEN_SINCE_EVER)
    for number in numbers:
        if number.status in (TanStatus.expired, TanStatus.deactivated):
            moments.append(BROKEN_SINCE_EVER)
        elif number.expected_expiry_at is not None:
            moments.append(number.expected_expiry_at - ABOUT_TO_BREAK)
    if account.status == ConnectionStatus.active and account.expected_deactivation_at is not None:
        moments.append(account.expected_deactivation_at - ABOUT_TO_BREAK)
    return min(moments) if moments else None
