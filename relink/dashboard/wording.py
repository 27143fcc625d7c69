"""Plain words for codes shown on dashboard pages."""

from __future__ import annotations

import datetime as dt
from typing import Any

from relink.kit.dates import format_day

REASON_LABELS = {
    "not_broken": "Not needed",
    "not_repairable": "Not repairable",
    "disconnected": "Disconnected",
    "recent_request": "Recently requested",
    "missing_email": "No email",
    "unconfirmed_test_email": "Not a confirmed team email",
    "institution_unsupported": "Bank unsupported",
    "institution_unavailable": "Bank having trouble",
    "email_undeliverable": "Email address bounces",
    "hosted_relink_disabled": "Hosted relink is off",
}

CAUSES = {
    "access_denied": "the holder or the bank revoked access",
    "access_expired": "the bank's consent expired",
    "account_closed": "the account was closed",
    "account_unavailable": "the bank no longer offers this account",
    "institution_requirement": "the bank requires the holder to sign in again",
    "unspecified": "the bank gave no reason",
}


def status_sentence(account: Any) -> str:
    """The account's status and status_details in one sentence."""
    if account.status == "active":
        if account.expected_deactivation_at is not None:
            cause = CAUSES.get(account.expected_deactivation_cause or "access_expired", "")
            return (
                "Working, but the connection will stop on "
                f"{account.expected_deactivation_at:%Y-%m-%d} ({cause}); a relink renews it."
            )
        return "Working: data can be refreshed and payments can use this account."
    if account.status == "inactive":
        cause = CAUSES.get(account.inactive_cause or "unspecified", "")
        if account.inactive_action == "relink_required":
            return f"Not working because {cause}. The holder can repair it by relinking."
        return f"Not working because {cause}. Relinking cannot repair it."
    return "Disconnected: the connection was ended and needs a new link, not a relink."


# The status badge: a few words; the API's code goes beside it (see :func:`badge_code`).
STATUS_WORDS = {"active": "Working", "disconnected": "Disconnected"}
INACTIVE_WORDS = {
    "access_denied": "Access revoked",
    "access_expired": "Consent expired",
    "account_closed": "Account closed",
    "account_unavailable": "No longer offered",
    "institution_requirement": "Needs the holder to sign in again",
    "unspecified": "Not working",
}


def badge(account: Any) -> str:
    if account.status == "inactive":
        return INACTIVE_WORDS.get(account.inactive_cause or "unspecified", "Not working")
    return STATUS_WORDS.get(str(account.status), str(account.status))


def badge_code(account: Any) -> str:
    """The status as the API names it, for developers: ``inactive · access_expired``."""
    if account.status == "inactive":
        return f"inactive · {account.inactive_cause or 'unspecified'}"
    return str(account.status)


# Why the first refresh after a repair failed (``LastRequest.refresh_failed``).
REFRESH_FAILURES = {
    "access_denied": "the bank refused access again",
    "access_expired": "the bank said the consent had expired again",
    "account_closed": "the bank said the account is closed",
    "account_unavailable": "the bank no longer offers this account",
    "institution_requirement": "the bank asked the holder to sign in again",
    "institution_down": "the bank stayed unavailable",
    "rate_limited": "the bank refused to be asked so often",
    "account_inactive": "the account was no longer working",
    "bank_error": "the bank answered with an error",
}


def refresh_failure_sentence(reason: str) -> str:
    """The flag of an account whose first refresh after its repair failed."""
    why = REFRESH_FAILURES.get(reason, REFRESH_FAILURES["bank_error"])
    return f"Repair not confirmed: the first data refresh after the relink failed ({why})."


CONNECTORS = {
    "nextgenpsd2": "NextGenPSD2 (Berlin Group)",
    "oauth2": "OAuth 2 bank API",
    "sandbox": "Sandbox bank",
}

HEALTH = {
    "active": "Working normally",
    "degraded": "Having trouble: some requests fail",
    "inactive": "Down: no requests succeed",
}

# A relink request's timeline, as the operator reads it (the code stays beside it).
TIMELINE = {
    "created": "Requested",
    "email_queued": "Email queued",
    "email_sent": "Email sent",
    "email_failed": "Email not delivered",
    "email_bounced": "Email bounced",
    "viewed": "The holder opened the link",
    "scanned": "A machine fetched the link (a mail scanner, prefetch or preview)",
    "opened": "The holder went on to the bank",
    "authenticated": "The holder signed in at the bank",
    "succeeded": "Repaired: the account works again",
    "failed": "Failed",
    "cancelled": "Cancelled",
    "expired": "Expired: the link was not used in time",
    "data_refreshed": "Proved: the first data refresh after the repair worked",
    "refresh_failed": "Not proved: the first data refresh after the repair failed",
}

SESSION_STATUS = {
    "pending": "Waiting for the holder",
    "succeeded": "Repaired",
    "failed": "Failed",
    "cancelled": "Cancelled",
}

FAILURE_REASONS = {
    "no_authorization": "the holder did not share the account",
    "other": "something else went wrong",
    "no_account": "the holder shared no account",
}

CANCELLED_REASONS = {
    "no_authorization": "the holder did not share the account",
    "other": "cancelled",
}


def outcome(session: Any) -> str:
    """A finished request's outcome in words ("" while it is pending)."""
    if session.status == "succeeded":
        return "Repaired: the account works again."
    if session.status == "cancelled":
        reason = FAILURE_REASONS.get(session.failure_reason or "", "")
        return "Cancelled" + (f": {reason}." if reason else ".")
    if session.status == "failed":
        reason = FAILURE_REASONS.get(session.failure_reason or "", "the bank gave no reason")
        return f"Failed: {reason}."
    return ""


CONSENT_KINDS = {
    "granted": "Consent given",
    "renewed": "Consent renewed by a relink",
    "revoked": "Consent revoked",
}
CONSENT_ACTORS = {
    "holder": "the holder",
    "operator": "an operator",
    "platform": "the platform (API)",
    "bank": "the bank",
    "automation": "automatic relink",
}


def consent_sentence(event: Any, locale: str = "en", time_zone: str | None = None) -> str:
    """One entry of an authorization's consent history in words (its end date in the
    reader's language and zone, as every date of the dashboard)."""
    kind = CONSENT_KINDS.get(event.kind, event.kind)
    actor = CONSENT_ACTORS.get(event.actor, event.actor)
    sentence = f"{kind} by {actor}"
    permissions = event.detail.get("permissions")
    if permissions:
        sentence += f": shares {', '.join(permissions)}"
    if event.kind != "revoked":
        valid_until = event.detail.get("valid_until")
        if valid_until is None:
            sentence += "; the bank sets no end date"
        else:
            end = dt.datetime.fromtimestamp(valid_until, dt.UTC)
            sentence += f"; valid until {format_day(end, locale=locale, time_zone=time_zone)}"
    return sentence + "."


WORDS = {
    "connectors": CONNECTORS,
    "health": HEALTH,
    "reasons": REASON_LABELS,
    "causes": CAUSES,
    "status_sentence": status_sentence,
    "badge": badge,
    "badge_code": badge_code,
    "timeline": TIMELINE,
    "session_status": SESSION_STATUS,
    "outcome": outcome,
    "refresh_failure": refresh_failure_sentence,
    "refresh_failures": REFRESH_FAILURES,
    "consent_sentence": consent_sentence,
}
