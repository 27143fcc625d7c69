"""When the automation leaves an account alone: the conditions, each written once.

Two kinds, both SQL conditions on the account (``accounts``) of an episode
(``automatic_relinks``), so the scan applies them to a whole batch in one statement and
the reminder email checks the same ones for its one account right before it is sent:

- :func:`episode_ended` — the episode is over and its row is deleted: the account was
  repaired, disconnected, cannot be repaired, or its holder cannot be emailed (no
  address, an address on the suppression list) or asked for no more reminders
  (:func:`holder_opted_out`; no new episode starts while that lasts). An account that
  breaks again later starts a new episode (a new delay, a new email cap).
- :func:`episode_held` — nothing is sent while it holds, and the episode stays as it is
  (its counters and schedule), to go on once it no longer holds.

A new reason to stop or to hold is one more line in one of these lists.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ColumnElement, exists, false, func, or_

from relink.eligibility.query import rules
from relink.eligibility.rules import Reason
from relink.institutions.incidents import held_institutions
from relink.models import Account, ReminderOptOut
from relink.tenancy import Scope

# The eligibility rules whose failure ends an episode. The others do not: an open request
# (``recent_request``) is the automation's own, and a bank in trouble
# (``institution_unavailable``) is waited out.
ENDING_REASONS: tuple[Reason, ...] = (
    Reason.not_broken,  # repaired (or no longer about to break)
    Reason.not_repairable,
    Reason.disconnected,
    Reason.institution_unsupported,
    Reason.missing_email,
    Reason.unconfirmed_test_email,
    Reason.email_undeliverable,  # the address is on the suppression list
)


def holder_opted_out(scope: Scope) -> ColumnElement[bool]:
    """The account's holder opted out of reminders (correlated on ``accounts``).

    It ends the episode rather than holding it: an opt-out lasts until an operator
    clears it, so a held episode would stay due and be read again by every scan."""
    return exists().where(
        ReminderOptOut.platform_id == scope.platform_id,
        ReminderOptOut.livemode.is_(scope.livemode),
        ReminderOptOut.holder_id
        == func.coalesce(Account.customer_id, Account.connected_account_id),
        ReminderOptOut.cleared_at.is_(None),
    )


def episode_ended(scope: Scope, now: dt.datetime) -> ColumnElement[bool]:
    """The account's episode is over (correlated on ``accounts``)."""
    conditions = [rule.fails for rule in rules(scope, now) if rule.reason in ENDING_REASONS]
    return or_(*conditions, holder_opted_out(scope))


def episode_held(scope: Scope, now: dt.datetime) -> ColumnElement[bool]:
    """Nothing is sent for the account while this holds (correlated on ``accounts``).

    Holds go here, one line each."""
    conditions: list[ColumnElement[bool]] = [
        # An incident at the account's bank (many accounts broke at once): not each
        # holder's to fix. Released by an operator; the episode then goes on.
        Account.institution_id.in_(held_institutions(scope)),
    ]
    return or_(false(), *conditions)
