"""Plain words for codes shown on dashboard pages, in the reader's language.

The tables below hold the English source text, marked with ``N_`` so Babel extracts it;
:class:`Words` translates them for one render (``words_for(locale)``). The CSV export
reads the tables as they are: a file's columns stay English.
"""

from __future__ import annotations

import datetime as dt
from functools import cache
from typing import Any

from relink.kit.dates import format_day
from relink.kit.i18n import N_, gettext_for

REASON_LABELS = {
    "not_broken": N_("Not needed"),
    "not_repairable": N_("Not repairable"),
    "disconnected": N_("Disconnected"),
    "recent_request": N_("Recently requested"),
    "missing_email": N_("No email"),
    "unconfirmed_test_email": N_("Not a confirmed team email"),
    "institution_unsupported": N_("Bank unsupported"),
    "institution_unavailable": N_("Bank having trouble"),
    "email_undeliverable": N_("Email address bounces"),
    "hosted_relink_disabled": N_("Hosted relink is off"),
}

# Why an account is not eligible (the confirm page's skips, the account page), as the
# eligibility rules say it to the API (``relink.eligibility.rules.MESSAGES``, English
# whatever the reader: a test keeps the two the same) and to the dashboard, translated.
EXPLANATIONS = {
    "not_broken": N_("The account's connection is working and nothing is about to expire."),
    "not_repairable": N_(
        "The account cannot be repaired by relinking (for example, it was closed)."
    ),
    "disconnected": N_("The account was disconnected; it needs a new link, not a relink."),
    "recent_request": N_(
        "A relink request for this account was made less than 48 hours ago and is still open "
        "(its email was sent or is still being retried)."
    ),
    "missing_email": N_("The account holder has no email address on file."),
    "unconfirmed_test_email": N_(
        "In test mode, relink emails go only to confirmed team members' addresses; "
        "the holder's email is not one of them."
    ),
    "institution_unsupported": N_("The account's institution does not support relink."),
    "email_undeliverable": N_(
        "Emails to the account holder's address bounced; it is on the suppression list "
        "until the address is changed or an operator lifts it."
    ),
    "institution_unavailable": N_(
        "The bank is having trouble; a relink would not help now. Relink asks again once "
        "the bank is back."
    ),
    "hosted_relink_disabled": N_(
        "Hosted relink is turned off for this platform (Settings), so no relink emails are sent."
    ),
}

CAUSES = {
    "access_denied": N_("the holder or the bank revoked access"),
    "access_expired": N_("the bank's consent expired"),
    "account_closed": N_("the account was closed"),
    "account_unavailable": N_("the bank no longer offers this account"),
    "institution_requirement": N_("the bank requires the holder to sign in again"),
    "unspecified": N_("the bank gave no reason"),
}

# The status badge: a few words; the API's code goes beside it (see :func:`badge_code`).
STATUS_WORDS = {"active": N_("Working"), "disconnected": N_("Disconnected")}
INACTIVE_WORDS = {
    "access_denied": N_("Access revoked"),
    "access_expired": N_("Consent expired"),
    "account_closed": N_("Account closed"),
    "account_unavailable": N_("No longer offered"),
    "institution_requirement": N_("Needs the holder to sign in again"),
    "unspecified": N_("Not working"),
}

# Why the first refresh after a repair failed (``LastRequest.refresh_failed``).
REFRESH_FAILURES = {
    "access_denied": N_("the bank refused access again"),
    "access_expired": N_("the bank said the consent had expired again"),
    "account_closed": N_("the bank said the account is closed"),
    "account_unavailable": N_("the bank no longer offers this account"),
    "institution_requirement": N_("the bank asked the holder to sign in again"),
    "institution_down": N_("the bank stayed unavailable"),
    "rate_limited": N_("the bank refused to be asked so often"),
    "account_inactive": N_("the account was no longer working"),
    "bank_error": N_("the bank answered with an error"),
}

CONNECTORS = {
    "nextgenpsd2": N_("NextGenPSD2 (Berlin Group)"),
    "oauth2": N_("OAuth 2 bank API"),
    "sandbox": N_("Sandbox bank"),
}

HEALTH = {
    "active": N_("Working normally"),
    "degraded": N_("Having trouble: some requests fail"),
    "inactive": N_("Down: no requests succeed"),
}

# A relink request's timeline, as the operator reads it (the code stays beside it).
TIMELINE = {
    "created": N_("Requested"),
    "email_queued": N_("Email queued"),
    "email_sent": N_("Email sent"),
    "email_failed": N_("Email not delivered"),
    "email_bounced": N_("Email bounced"),
    "viewed": N_("The holder opened the link"),
    "scanned": N_("A machine fetched the link (a mail scanner, prefetch or preview)"),
    "opened": N_("The holder went on to the bank"),
    "authenticated": N_("The holder signed in at the bank"),
    "succeeded": N_("Repaired: the account works again"),
    "failed": N_("Failed"),
    "cancelled": N_("Cancelled"),
    "expired": N_("Expired: the link was not used in time"),
    "data_refreshed": N_("Proved: the first data refresh after the repair worked"),
    "refresh_failed": N_("Not proved: the first data refresh after the repair failed"),
}

# The outreach report's steps (``relink.sessions.rollup.STEPS``, which the CLI prints).
REPORT_STEPS = {
    "created": N_("Requested"),
    "email_sent": N_("Email sent"),
    "viewed": N_("Viewed"),
    "scanned": N_("Scanned by a machine"),
    "opened": N_("Opened"),
    "authenticated": N_("Authenticated"),
    "succeeded": N_("Repaired"),
    "data_refreshed": N_("Data refreshed"),
}

# Why an account needed a relink (``relink.eligibility.relink_reason.LABELS``, the CLI's);
# "" is a request that recorded none.
RELINK_REASONS = {
    "access_denied": N_("Access revoked"),
    "access_expired": N_("Consent expired"),
    "account_unavailable": N_("Account unavailable at the bank"),
    "institution_requirement": N_("Bank asked to sign in again"),
    "unspecified": N_("Connection lost (no reason given)"),
    "account_number_expired": N_("Account number expired"),
    "account_number_expiring": N_("Account number expiring"),
    "access_ending": N_("Consent about to end"),
    "other": N_("Other"),
    "": N_("Not recorded"),
}

# A bulk relink request's progress (``BulkJobStatus``).
JOB_STATUS = {
    "queued": N_("Waiting to start"),
    "running": N_("Running"),
    "succeeded": N_("Done"),
    "failed": N_("Failed"),
}

# A webhook endpoint's status (``EndpointStatus``; the code stays in ``data-status``).
ENDPOINT_STATUS = {"enabled": N_("Enabled"), "disabled": N_("Disabled")}

SESSION_STATUS = {
    "pending": N_("Waiting for the holder"),
    "succeeded": N_("Repaired"),
    "failed": N_("Failed"),
    "cancelled": N_("Cancelled"),
}

FAILURE_REASONS = {
    "no_authorization": N_("the holder did not share the account"),
    "other": N_("something else went wrong"),
    "no_account": N_("the holder shared no account"),
}

CONSENT_KINDS = {
    "granted": N_("Consent given"),
    "renewed": N_("Consent renewed by a relink"),
    "revoked": N_("Consent revoked"),
}
# Whole phrases ("by the holder"), not a name after "by": languages inflect the name.
CONSENT_ACTORS = {
    "holder": N_("by the holder"),
    "operator": N_("by an operator"),
    "platform": N_("by the platform (API)"),
    "bank": N_("by the bank"),
    "automation": N_("by automatic relink"),
}


# A team user's role (the code stays the form's value and the API's word).
ROLES = {"owner": N_("Owner"), "admin": N_("Admin"), "viewer": N_("Viewer")}


def badge_code(account: Any) -> str:
    """The status as the API names it, for developers: ``inactive · access_expired``."""
    if account.status == "inactive":
        return f"inactive · {account.inactive_cause or 'unspecified'}"
    return str(account.status)


class Words:
    """The tables and sentences above in one language (templates reach it as ``words``)."""

    def __init__(self, locale: str) -> None:
        self.locale = locale
        self._ = gettext_for(locale).gettext
        self.reasons = self._table(REASON_LABELS)
        self.explanations = self._table(EXPLANATIONS)
        self.causes = self._table(CAUSES)
        self.connectors = self._table(CONNECTORS)
        self.health = self._table(HEALTH)
        self.timeline = self._table(TIMELINE)
        self.session_status = self._table(SESSION_STATUS)
        self.refresh_failures = self._table(REFRESH_FAILURES)
        self.roles = self._table(ROLES)
        self.report_steps = self._table(REPORT_STEPS)
        self.relink_reasons = self._table(RELINK_REASONS)
        self.failure_reasons = self._table(FAILURE_REASONS)
        self.job_status = self._table(JOB_STATUS)
        self.endpoint_status = self._table(ENDPOINT_STATUS)
        self.badge_code = badge_code

    def _table(self, table: dict[str, str]) -> dict[str, str]:
        return {code: self._(text) for code, text in table.items()}

    def status_sentence(self, account: Any, time_zone: str | None = None) -> str:
        """The account's status and status_details in one sentence."""
        _ = self._
        if account.status == "active":
            if account.expected_deactivation_at is not None:
                cause = self.causes.get(account.expected_deactivation_cause or "access_expired", "")
                day = format_day(
                    account.expected_deactivation_at, locale=self.locale, time_zone=time_zone
                )
                return _(
                    "Working, but the connection will stop on %(date)s (%(cause)s); "
                    "a relink renews it."
                ) % {"date": day, "cause": cause}
            return _("Working: data can be refreshed and payments can use this account.")
        if account.status == "inactive":
            cause = self.causes.get(account.inactive_cause or "unspecified", "")
            if account.inactive_action == "relink_required":
                return _(
                    "Not working because %(cause)s. The holder can repair it by relinking."
                ) % {"cause": cause}
            return _("Not working because %(cause)s. Relinking cannot repair it.") % {
                "cause": cause
            }
        return _("Disconnected: the connection was ended and needs a new link, not a relink.")

    def badge(self, account: Any) -> str:
        if account.status == "inactive":
            cause = account.inactive_cause or "unspecified"
            return self._(INACTIVE_WORDS.get(cause, INACTIVE_WORDS["unspecified"]))
        status = str(account.status)
        return self._(STATUS_WORDS[status]) if status in STATUS_WORDS else status

    def duration(self, seconds: float | None) -> str:
        """A median time, short: "3 h 20 min", "2 d 4 h", "45 s"; "—" when none."""
        if seconds is None:
            return "—"
        days, rest = divmod(round(seconds), 86400)
        hours, rest = divmod(rest, 3600)
        minutes, secs = divmod(rest, 60)
        _ = self._
        if days:
            return _("%(days)d d %(hours)d h") % {"days": days, "hours": hours}
        if hours:
            return _("%(hours)d h %(minutes)d min") % {"hours": hours, "minutes": minutes}
        if minutes and secs:
            return _("%(minutes)d min %(seconds)d s") % {"minutes": minutes, "seconds": secs}
        if minutes:
            return _("%(minutes)d min") % {"minutes": minutes}
        return _("%(seconds)d s") % {"seconds": secs}

    def refresh_failure(self, reason: str) -> str:
        """The flag of an account whose first refresh after its repair failed."""
        why = self.refresh_failures.get(reason, self.refresh_failures["bank_error"])
        return self._(
            "Repair not confirmed: the first data refresh after the relink failed (%(why)s)."
        ) % {"why": why}

    def outcome(self, session: Any) -> str:
        """A finished request's outcome in words ("" while it is pending)."""
        _ = self._
        reason_text = FAILURE_REASONS.get(session.failure_reason or "")
        reason = _(reason_text) if reason_text else ""
        if session.status == "succeeded":
            return _("Repaired: the account works again.")
        if session.status == "cancelled":
            return _("Cancelled: %(reason)s.") % {"reason": reason} if reason else _("Cancelled.")
        if session.status == "failed":
            return _("Failed: %(reason)s.") % {"reason": reason or _("the bank gave no reason")}
        return ""

    def consent_sentence(self, event: Any, time_zone: str | None = None) -> str:
        """One entry of an authorization's consent history in words (its end date in the
        reader's language and zone, as every date of the dashboard)."""
        _ = self._
        kind = self._(CONSENT_KINDS[event.kind]) if event.kind in CONSENT_KINDS else event.kind
        actor = (
            self._(CONSENT_ACTORS[event.actor])
            if event.actor in CONSENT_ACTORS
            else _("by %(who)s") % {"who": event.actor}
        )
        sentence = f"{kind} {actor}"
        permissions = event.detail.get("permissions")
        if permissions:
            sentence = _("%(sentence)s: shares %(permissions)s") % {
                "sentence": sentence,
                "permissions": ", ".join(permissions),
            }
        if event.kind != "revoked":
            valid_until = event.detail.get("valid_until")
            if valid_until is None:
                sentence = _("%(sentence)s; the bank sets no end date") % {"sentence": sentence}
            else:
                end = dt.datetime.fromtimestamp(valid_until, dt.UTC)
                day = format_day(end, locale=self.locale, time_zone=time_zone)
                sentence = _("%(sentence)s; valid until %(date)s") % {
                    "sentence": sentence,
                    "date": day,
                }
        return sentence + "."


@cache
def words_for(locale: str) -> Words:
    return Words(locale)
