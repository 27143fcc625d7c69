"""The automatic relink policy of a scope: reading it and changing it, with its limits.

The API, the CLI and the dashboard all change the policy here, so each refuses the same
values with the same words (Stripe's error shape: the parameter and a message).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.orm import Session as DbSession

from relink.kit import clock
from relink.kit.errors import ParameterInvalid
from relink.kit.sql import insert_or_ignore
from relink.models import AutomaticRelink, Platform, RelinkPolicy
from relink.models.automation import (
    DEFAULT_DELAY_SECONDS,
    DEFAULT_EXPIRY_REMINDER_DAYS,
    DEFAULT_MAX_EMAILS_PER_ACCOUNT,
    DEFAULT_REMINDER_DAYS,
)
from relink.tenancy import Scope, in_scope, platform_scope

# The limits of each setting (the API's declaration documents them from here).
MAX_DELAY_SECONDS = 30 * 86400
# A hosted link stays valid for 30 days after its last visit: a reminder later than that
# would send a link that no longer works.
MAX_REMINDER_DAY = 30
# An account is "about to break" 30 days before an expiry (relink.eligibility.rules).
MAX_EXPIRY_REMINDER_DAY = 30
MAX_REMINDERS = 5
MAX_EMAILS_PER_ACCOUNT = 20


@dataclass(frozen=True)
class Policy:
    enabled: bool = False
    delay_seconds: int = DEFAULT_DELAY_SECONDS
    # Ascending: days after the first email.
    reminder_days: tuple[int, ...] = DEFAULT_REMINDER_DAYS
    # Descending: days before the expiry.
    expiry_reminder_days: tuple[int, ...] = DEFAULT_EXPIRY_REMINDER_DAYS
    max_emails_per_account: int = DEFAULT_MAX_EMAILS_PER_ACCOUNT
    updated_at: dt.datetime | None = None


@dataclass(frozen=True)
class PolicyChanges:
    """What a caller asks to change; ``None`` leaves a setting as it is."""

    enabled: bool | None = None
    delay_seconds: int | None = None
    reminder_days: Sequence[int] | None = None
    expiry_reminder_days: Sequence[int] | None = None
    max_emails_per_account: int | None = None


class PolicyInvalid(ParameterInvalid):
    """A policy value outside its limits.

    ``problem`` says which rule it broke (``range``, ``too_many``, ``repeated`` or
    ``not_days``), so that a surface that words it its own way (the dashboard) still
    follows these rules rather than a copy of them.
    """

    code = "parameter_invalid_integer"

    def __init__(
        self, param: str, message: str, *, code: str | None = None, problem: str = "range"
    ) -> None:
        super().__init__(param, message, code=code)
        self.problem = problem


def _policy_of_row(row: RelinkPolicy | None) -> Policy:
    if row is None:
        return Policy()
    return Policy(
        enabled=row.enabled,
        delay_seconds=row.delay_seconds,
        reminder_days=tuple(row.reminder_days),
        expiry_reminder_days=tuple(row.expiry_reminder_days),
        max_emails_per_account=row.max_emails_per_account,
        updated_at=row.updated_at,
    )


def policy_of(db: DbSession, scope: Scope) -> Policy:
    """The scope's policy (the defaults, off, until someone changes it)."""
    row = db.scalars(
        select(RelinkPolicy)
        .where(in_scope(RelinkPolicy, scope))
        .execution_options(populate_existing=True)
    ).first()
    return _policy_of_row(row)


def enabled_policies(db: DbSession) -> list[tuple[Scope, Policy]]:
    """Every scope whose policy is on, with its policy (the scan's list of work)."""
    rows = db.execute(
        select(RelinkPolicy, Platform.test_clock_offset_seconds)
        .join(Platform, Platform.id == RelinkPolicy.platform_id)
        .where(RelinkPolicy.enabled.is_(True))
        .order_by(RelinkPolicy.platform_id, RelinkPolicy.livemode)
    ).all()
    return [
        (platform_scope(row.platform_id, row.livemode, offset), _policy_of_row(row))
        for row, offset in rows
    ]


def _bounded(param: str, value: int, low: int, high: int, unit: str = "") -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise PolicyInvalid(
            param, f"{param} must be a whole number{unit} between {low} and {high}."
        )
    return value


def _days(param: str, days: Sequence[int], high: int) -> list[int]:
    if len(days) > MAX_REMINDERS:
        raise PolicyInvalid(
            param,
            f"{param} can list at most {MAX_REMINDERS} days.",
            code="parameter_invalid_array",
            problem="too_many",
        )
    for index, day in enumerate(days):
        _bounded(f"{param}[{index}]", day, 1, high, " of days")
    if len(set(days)) != len(days):
        raise PolicyInvalid(
            param, f"{param} lists a day twice.", code="parameter_invalid_array", problem="repeated"
        )
    return sorted(days)


def days_of_text(param: str, text: str) -> list[int]:
    """The days of a comma-separated list typed by a person ("3, 7"; empty: none), in the
    order given (:func:`check_changes` checks and orders them)."""
    items = [item.strip() for item in text.split(",")]
    if items == [""]:
        return []
    if not all(item.isascii() and item.isdigit() for item in items):
        raise PolicyInvalid(
            param,
            f"{param} must be whole numbers of days separated by commas, like 3,7.",
            code="parameter_invalid_array",
            problem="not_days",
        )
    return [int(item) for item in items]


def check_changes(changes: PolicyChanges) -> PolicyChanges:
    """The changes with the day lists in order; :class:`PolicyInvalid` for the first bad value."""
    reminder_days = expiry_days = None
    if changes.delay_seconds is not None:
        _bounded("delay_seconds", changes.delay_seconds, 0, MAX_DELAY_SECONDS, " of seconds")
    if changes.reminder_days is not None:
        reminder_days = _days("reminder_days", changes.reminder_days, MAX_REMINDER_DAY)
    if changes.expiry_reminder_days is not None:
        expiry_days = _days(
            "expiry_reminder_days", changes.expiry_reminder_days, MAX_EXPIRY_REMINDER_DAY
        )[::-1]
    if changes.max_emails_per_account is not None:
        _bounded(
            "max_emails_per_account", changes.max_emails_per_account, 1, MAX_EMAILS_PER_ACCOUNT
        )
    return PolicyChanges(
        enabled=changes.enabled,
        delay_seconds=changes.delay_seconds,
        reminder_days=reminder_days,
        expiry_reminder_days=expiry_days,
        max_emails_per_account=changes.max_emails_per_account,
    )


def change_policy(db: DbSession, scope: Scope, changes: PolicyChanges) -> Policy:
    """Apply ``changes`` to the scope's policy (in the caller's transaction) and return it.

    Every value is checked before anything is written: a refused change changes nothing.
    """
    checked = check_changes(changes)
    now = clock.now()
    defaults = Policy()
    db.execute(
        insert_or_ignore(db, RelinkPolicy, index_elements=["platform_id", "livemode"]).values(
            platform_id=scope.platform_id,
            livemode=scope.livemode,
            enabled=defaults.enabled,
            delay_seconds=defaults.delay_seconds,
            reminder_days=list(defaults.reminder_days),
            expiry_reminder_days=list(defaults.expiry_reminder_days),
            max_emails_per_account=defaults.max_emails_per_account,
            updated_at=now,
        )
    )
    values: dict[str, object] = {"updated_at": now}
    if checked.enabled is not None:
        values["enabled"] = checked.enabled
    if checked.delay_seconds is not None:
        values["delay_seconds"] = checked.delay_seconds
    if checked.reminder_days is not None:
        values["reminder_days"] = list(checked.reminder_days)
    if checked.expiry_reminder_days is not None:
        values["expiry_reminder_days"] = list(checked.expiry_reminder_days)
    if checked.max_emails_per_account is not None:
        values["max_emails_per_account"] = checked.max_emails_per_account
    db.execute(
        update(RelinkPolicy)
        .where(in_scope(RelinkPolicy, scope))
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    # Every episode is looked at again by the next scan, on the new schedule and cap.
    db.execute(
        update(AutomaticRelink)
        .where(in_scope(AutomaticRelink, scope))
        .values(next_at=scope.now())
        .execution_options(synchronize_session=False)
    )
    return policy_of(db, scope)
