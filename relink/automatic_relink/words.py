"""The automatic relink policy in words, one sentence a setting, as ``relink policy show``
says it (in English; the dashboard says the same in its user's language:
:func:`relink.dashboard.relink_policy.policy_sentences`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from relink.automatic_relink.service import Policy

_UNITS = (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1))


def plural(count: int, unit: str) -> str:
    return f"{count} {unit}" if count == 1 else f"{count} {unit}s"


def duration_words(seconds: int) -> str:
    """``14400`` → "4 hours", ``5400`` → "1 hour 30 minutes" (0 → "0 minutes")."""
    parts = []
    rest = seconds
    for unit, size in _UNITS:
        count, rest = divmod(rest, size)
        if count:
            parts.append(plural(count, unit))
    return " ".join(parts) or "0 minutes"


def _listed(days: Sequence[int]) -> str:
    """``(14, 7, 1)`` → "14, 7 and 1 days"; ``(1,)`` → "1 day"."""
    numbers = [str(day) for day in days]
    head = ", ".join(numbers[:-1])
    text = f"{head} and {numbers[-1]}" if head else numbers[-1]
    return f"{text} {'day' if list(days) == [1] else 'days'}"


def _reminders(days: Sequence[int]) -> str:
    return f"{'A reminder' if len(days) == 1 else 'Reminders'} {_listed(days)}"


@dataclass(frozen=True)
class PolicyWords:
    state: str
    delay: str
    reminders: str
    expiry_reminders: str
    cap: str

    @property
    def sentences(self) -> list[str]:
        return [self.state, self.delay, self.reminders, self.expiry_reminders, self.cap]


def policy_words(policy: Policy) -> PolicyWords:
    if policy.enabled:
        state = "Automatic relink is on: Relink asks holders to repair broken accounts by itself."
    else:
        state = "Automatic relink is off: holders are asked only when someone requests a relink."
    if policy.delay_seconds:
        delay = f"Requests go out {duration_words(policy.delay_seconds)} after an account breaks."
    else:
        delay = "Requests go out as soon as an account breaks."
    if policy.reminder_days:
        reminders = (
            f"{_reminders(policy.reminder_days)} after the first email, "
            "while the request is pending."
        )
    else:
        reminders = "No reminders after the first email."
    if policy.expiry_reminder_days:
        expiry = (
            f"{_reminders(policy.expiry_reminder_days)} before a TAN or consent "
            "expires, while the request is pending."
        )
    else:
        expiry = "No reminders before a TAN or consent expires."
    cap = (
        f"At most {plural(policy.max_emails_per_account, 'email')} per account: "
        "the request and its reminders together."
    )
    return PolicyWords(state, delay, reminders, expiry, cap)
