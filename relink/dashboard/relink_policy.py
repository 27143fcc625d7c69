"""Settings → Automatic relink: the form of the current platform and mode's policy.

The delay is entered in hours and minutes, the reminder days as comma-separated lists
("3, 7"). The form reads what was typed into numbers; the limits are the service's
(:func:`relink.automatic_relink.service.check_changes`, the same as the API's and the
CLI's), and only the words of a refusal are the dashboard's.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from relink.automatic_relink.service import (
    MAX_DELAY_SECONDS,
    MAX_EMAILS_PER_ACCOUNT,
    MAX_EXPIRY_REMINDER_DAY,
    MAX_REMINDER_DAY,
    MAX_REMINDERS,
    Policy,
    PolicyChanges,
    PolicyInvalid,
    check_changes,
    days_of_text,
)

MINUTES_PER_HOUR = 60
MAX_DELAY_HOURS = MAX_DELAY_SECONDS // 3600

# The fields in the order of the form (the error summary follows it), and the input each
# error summary link moves to.
FIELD_INPUTS = {
    "enabled": "p-enabled-on",
    "delay": "p-delay-hours",
    "reminder_days": "p-reminder-days",
    "expiry_reminder_days": "p-expiry-days",
    "max_emails_per_account": "p-max-emails",
}


def _days_text(days: tuple[int, ...]) -> str:
    return ", ".join(str(day) for day in days)


def _whole_number(text: str) -> int | None:
    return int(text) if text.isascii() and text.isdigit() else None


def _days_refusal(error: PolicyInvalid, what: str, high: int, example: str) -> str:
    return {
        "not_days": f"Enter the {what} as whole numbers separated by commas, like {example}.",
        "too_many": f"List at most {MAX_REMINDERS} {what}.",
        "repeated": f"List each of the {what} once.",
    }.get(error.problem, f"Each of the {what} must be from 1 to {high}.")


def _refusal(error: PolicyInvalid) -> tuple[str, str]:
    """The form field a refused value belongs to, and what to tell the user."""
    param = (error.param or "").split("[")[0]
    if param == "reminder_days":
        return param, _days_refusal(error, "days after the first email", MAX_REMINDER_DAY, "3, 7")
    if param == "expiry_reminder_days":
        return param, _days_refusal(
            error, "days before an expiry", MAX_EXPIRY_REMINDER_DAY, "14, 7, 1"
        )
    if param == "delay_seconds":
        return "delay", f"The delay can be at most {MAX_DELAY_HOURS} hours."
    return (
        "max_emails_per_account",
        f"Enter a number of emails between 1 and {MAX_EMAILS_PER_ACCOUNT}.",
    )


@dataclass
class PolicyEdit:
    """The form's values as typed (kept when refused) and, per field, what is wrong."""

    enabled: str
    delay_hours: str
    delay_minutes: str
    reminder_days: str
    expiry_reminder_days: str
    max_emails_per_account: str
    errors: dict[str, str] = field(default_factory=dict)
    changes: PolicyChanges = field(default_factory=PolicyChanges)

    @classmethod
    def of(cls, policy: Policy) -> PolicyEdit:
        hours, rest = divmod(policy.delay_seconds, 3600)
        return cls(
            enabled="on" if policy.enabled else "off",
            delay_hours=str(hours),
            delay_minutes=str(rest // MINUTES_PER_HOUR),
            reminder_days=_days_text(policy.reminder_days),
            expiry_reminder_days=_days_text(policy.expiry_reminder_days),
            max_emails_per_account=str(policy.max_emails_per_account),
        )

    @property
    def error_list(self) -> list[tuple[str, str]]:
        """(input id, message) of each error, in the form's order: the error summary."""
        return [
            (FIELD_INPUTS[name], self.errors[name]) for name in FIELD_INPUTS if name in self.errors
        ]

    @classmethod
    def read(
        cls,
        current: Policy,
        *,
        enabled: str,
        delay_hours: str,
        delay_minutes: str,
        reminder_days: str,
        expiry_reminder_days: str,
        max_emails_per_account: str,
    ) -> PolicyEdit:
        """Read the form (its fields stripped) against the ``current`` policy: ``changes``
        when ``errors`` is empty. A delay typed as the current one in whole minutes leaves
        it as it is (one set through the API to the second is not rounded by the form)."""
        edit = cls(
            enabled,
            delay_hours,
            delay_minutes,
            reminder_days,
            expiry_reminder_days,
            max_emails_per_account,
        )
        errors = edit.errors
        if edit.enabled not in ("on", "off"):
            errors["enabled"] = "Choose whether automatic relink is on or off."
        delay = edit._delay(current)
        days: dict[str, list[int] | None] = {}
        for name in ("reminder_days", "expiry_reminder_days"):
            try:
                days[name] = days_of_text(name, getattr(edit, name))
            except PolicyInvalid as error:
                errors[name] = _refusal(error)[1]
                days[name] = None
        cap = _whole_number(edit.max_emails_per_account)
        if cap is None:
            errors["max_emails_per_account"] = (
                "Enter the number of emails as a whole number, like 6."
            )
        changes = PolicyChanges(
            enabled=edit.enabled == "on",
            delay_seconds=delay,
            reminder_days=days["reminder_days"],
            expiry_reminder_days=days["expiry_reminder_days"],
            max_emails_per_account=cap,
        )
        # The service's limits, each value on its own so that every field is told.
        for one in (
            PolicyChanges(delay_seconds=delay),
            PolicyChanges(reminder_days=changes.reminder_days),
            PolicyChanges(expiry_reminder_days=changes.expiry_reminder_days),
            PolicyChanges(max_emails_per_account=cap),
        ):
            try:
                check_changes(one)
            except PolicyInvalid as error:
                where, message = _refusal(error)
                errors.setdefault(where, message)
        if not errors:
            edit.changes = changes
        return edit

    def _delay(self, current: Policy) -> int | None:
        """The delay in seconds (None: unchanged, or refused with an error)."""
        if not self.delay_hours and not self.delay_minutes:
            self.errors["delay"] = "Enter the delay in hours, minutes or both (0 for at once)."
            return None
        hours = _whole_number(self.delay_hours or "0")
        minutes = _whole_number(self.delay_minutes or "0")
        if hours is None or minutes is None:
            self.errors["delay"] = "Enter the hours and minutes as whole numbers, like 4 and 30."
            return None
        if minutes >= MINUTES_PER_HOUR:
            self.errors["delay"] = "Enter the minutes as a number from 0 to 59."
            return None
        seconds = (hours * MINUTES_PER_HOUR + minutes) * 60
        if seconds == current.delay_seconds - current.delay_seconds % 60:
            return None
        return seconds
