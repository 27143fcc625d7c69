"""Settings → Automatic relink: the form of the current platform and mode's policy.

The delay is entered in hours and minutes, the reminder days as comma-separated lists
("3, 7"). The form reads what was typed into numbers; the limits are the service's
(:func:`relink.automatic_relink.service.check_changes`, the same as the API's and the
CLI's), and only the words of a refusal are the dashboard's.
"""

from __future__ import annotations

import gettext
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
from relink.kit.i18n import M_, N_, Message, Mn_

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


# What each day list's refusals say, by the rule broken (``PolicyInvalid.problem``); the
# lists are named in whole sentences, as German inflects them.
_DAYS_REFUSALS: dict[str, dict[str, str | Message]] = {
    "reminder_days": {
        "not_days": N_(
            "Enter the days after the first email as whole numbers separated by commas, like 3, 7."
        ),
        "too_many": Mn_(
            "List at most %(num)d day after the first email.",
            "List at most %(num)d days after the first email.",
            MAX_REMINDERS,
        ),
        "repeated": N_("List each of the days after the first email once."),
        "range": M_(
            "Each of the days after the first email must be from 1 to %(high)d.",
            high=MAX_REMINDER_DAY,
        ),
    },
    "expiry_reminder_days": {
        "not_days": N_(
            "Enter the days before an expiry as whole numbers separated by commas, like 14, 7, 1."
        ),
        "too_many": Mn_(
            "List at most %(num)d day before an expiry.",
            "List at most %(num)d days before an expiry.",
            MAX_REMINDERS,
        ),
        "repeated": N_("List each of the days before an expiry once."),
        "range": M_(
            "Each of the days before an expiry must be from 1 to %(high)d.",
            high=MAX_EXPIRY_REMINDER_DAY,
        ),
    },
}


def _refusal(error: PolicyInvalid) -> tuple[str, str | Message]:
    """The form field a refused value belongs to, and what to tell the user (the service's
    own message is the API's, in English: the dashboard words it from the rule)."""
    param = (error.param or "").split("[")[0]
    if param in _DAYS_REFUSALS:
        refusals = _DAYS_REFUSALS[param]
        return param, refusals.get(error.problem, refusals["range"])
    if param == "delay_seconds":
        return "delay", Mn_(
            "The delay can be at most %(num)d hour.",
            "The delay can be at most %(num)d hours.",
            MAX_DELAY_HOURS,
        )
    return (
        "max_emails_per_account",
        M_("Enter a number of emails between 1 and %(high)d.", high=MAX_EMAILS_PER_ACCOUNT),
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
    errors: dict[str, str | Message] = field(default_factory=dict)
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
    def error_list(self) -> list[tuple[str, str | Message]]:
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
            errors["enabled"] = N_("Choose whether automatic relink is on or off.")
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
            errors["max_emails_per_account"] = N_(
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
            self.errors["delay"] = N_("Enter the delay in hours, minutes or both (0 for at once).")
            return None
        hours = _whole_number(self.delay_hours or "0")
        minutes = _whole_number(self.delay_minutes or "0")
        if hours is None or minutes is None:
            self.errors["delay"] = N_(
                "Enter the hours and minutes as whole numbers, like 4 and 30."
            )
            return None
        if minutes >= MINUTES_PER_HOUR:
            self.errors["delay"] = N_("Enter the minutes as a number from 0 to 59.")
            return None
        seconds = (hours * MINUTES_PER_HOUR + minutes) * 60
        if seconds == current.delay_seconds - current.delay_seconds % 60:
            return None
        return seconds


# -- the policy in words -------------------------------------------------------------------


def delay_words(seconds: int, translations: gettext.NullTranslations) -> str:
    """``14400`` → "4 hours", ``5400`` → "1 hour 30 minutes" (in the reader's language)."""
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, rest = divmod(rest, 60)
    ngettext = translations.ngettext
    parts = [
        ngettext("%(num)d day", "%(num)d days", days) % {"num": days} if days else "",
        ngettext("%(num)d hour", "%(num)d hours", hours) % {"num": hours} if hours else "",
        ngettext("%(num)d minute", "%(num)d minutes", minutes) % {"num": minutes}
        if minutes
        else "",
        ngettext("%(num)d second", "%(num)d seconds", rest) % {"num": rest} if rest else "",
    ]
    return " ".join(part for part in parts if part)


def _listed(days: tuple[int, ...], translations: gettext.NullTranslations) -> str:
    """``(14, 7, 1)`` → "14, 7 and 1" (at least two days)."""
    head = ", ".join(str(day) for day in days[:-1])
    return translations.gettext("%(head)s and %(last)s") % {"head": head, "last": days[-1]}


def policy_sentences(policy: Policy, translations: gettext.NullTranslations) -> list[str]:
    """The policy in words, one sentence a setting: what ``relink policy show`` says (in
    English), in the reader's language."""
    _ = translations.gettext
    ngettext = translations.ngettext
    if policy.enabled:
        state = _(
            "Automatic relink is on: Relink asks holders to repair broken accounts by itself."
        )
    else:
        state = _("Automatic relink is off: holders are asked only when someone requests a relink.")
    if policy.delay_seconds:
        delay = _("Requests go out %(delay)s after an account breaks.") % {
            "delay": delay_words(policy.delay_seconds, translations)
        }
    else:
        delay = _("Requests go out as soon as an account breaks.")
    days = policy.reminder_days
    if len(days) == 1:
        reminders = ngettext(
            "A reminder %(num)d day after the first email, while the request is pending.",
            "A reminder %(num)d days after the first email, while the request is pending.",
            days[0],
        ) % {"num": days[0]}
    elif days:
        reminders = _(
            "Reminders %(days)s days after the first email, while the request is pending."
        ) % {"days": _listed(days, translations)}
    else:
        reminders = _("No reminders after the first email.")
    days = policy.expiry_reminder_days
    if len(days) == 1:
        expiry = ngettext(
            "A reminder %(num)d day before a TAN or consent expires, while the request is pending.",
            "A reminder %(num)d days before a TAN or consent expires, while the request is "
            "pending.",
            days[0],
        ) % {"num": days[0]}
    elif days:
        expiry = _(
            "Reminders %(days)s days before a TAN or consent expires, while the request is pending."
        ) % {"days": _listed(days, translations)}
    else:
        expiry = _("No reminders before a TAN or consent expires.")
    cap = ngettext(
        "At most %(num)d email per account: the request and its reminders together.",
        "At most %(num)d emails per account: the request and its reminders together.",
        policy.max_emails_per_account,
    ) % {"num": policy.max_emails_per_account}
    return [state, delay, reminders, expiry, cap]
