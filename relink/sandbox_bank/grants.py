"""Grants, tokens and the checks every bank call goes through.

Rules for the test institutions live here, keyed by `Feature`:

- availability (down scheduled / unscheduled / error) for login, token and API calls;
- consent lifetime (30 days, or one day for re-authentications) from the sandbox "now";
- "inactive after the first refresh" for a holder's first authentication.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from relink.sandbox_bank.errors import BankError, invalid_token
from relink.sandbox_bank.institutions import Feature, SandboxInstitution, institution
from relink.sandbox_bank.models import Client, Grant, Setting, Token
from relink.sandbox_bank.store import hash_secret, new_secret

ACCESS_TOKEN_LIFETIME = timedelta(hours=1)
MAINTENANCE_LENGTH = timedelta(hours=2)

# How a deactivated grant answers: (status, error, error_reason, description)
_DEACTIVATION_ANSWERS: dict[str, tuple[int, str, str, str]] = {
    "access_denied": (401, "invalid_token", "consent_revoked", "The consent was revoked."),
    "access_expired": (401, "invalid_token", "consent_expired", "The consent has expired."),
    "mfa_required": (
        401,
        "invalid_token",
        "mfa_required",
        "The account holder must sign in again with a verification code.",
    ),
    "institution_requirement": (
        403,
        "institution_requirement",
        "institution_requirement",
        "The account holder must accept new terms at the bank.",
    ),
}
DEACTIVATION_CAUSES = (*_DEACTIVATION_ANSWERS, "account_closed", "account_unavailable")


def known_institution(key: str) -> SandboxInstitution:
    inst = institution(key)
    if inst is None:
        raise BankError(400, "invalid_request", f"Unknown institution {key!r}.")
    return inst


def maintenance_window(now: datetime) -> tuple[datetime, datetime]:
    """The announced window containing `now`: from the top of the hour, two hours long."""
    start = now.replace(minute=0, second=0, microsecond=0)
    return start, start + MAINTENANCE_LENGTH


def ensure_available(session: Session, inst: SandboxInstitution, now: datetime) -> None:
    """Refuse a call to an institution that is down (by its features, or by a test's
    played outage: ``inactive`` answers like an unscheduled outage, ``degraded`` like a
    bank failing with errors)."""
    outage = played_outage(session, inst.key)
    if outage == "inactive":
        raise BankError(
            503,
            "temporarily_unavailable",
            f"{inst.display_name} is unavailable.",
            reason="unscheduled_outage",
        )
    if outage == "degraded":
        raise BankError(500, "server_error", "An unknown error occurred.")
    if inst.has(Feature.down_scheduled):
        start, end = maintenance_window(now)
        raise BankError(
            503,
            "temporarily_unavailable",
            f"{inst.display_name} is down for scheduled maintenance.",
            reason="scheduled_maintenance",
            headers={"Retry-After": str(int((end - now).total_seconds()))},
            extra={
                "maintenance_window": {
                    "starts_at": int(start.timestamp()),
                    "ends_at": int(end.timestamp()),
                }
            },
        )
    if inst.has(Feature.down_unscheduled):
        raise BankError(
            503,
            "temporarily_unavailable",
            f"{inst.display_name} is unavailable.",
            reason="unscheduled_outage",
        )
    if inst.has(Feature.down_error):
        raise BankError(500, "server_error", "An unknown error occurred.")


OUTAGE_STATUSES = ("active", "degraded", "inactive")


def _outage_setting(key: str) -> str:
    return f"outage:{key}"


def played_outage(session: Session, key: str) -> str | None:
    """The status a test put this institution in (None: as its features say)."""
    setting = session.get(Setting, _outage_setting(key))
    return setting.value if setting is not None else None


def play_outage(session: Session, key: str, status: str) -> None:
    """Put an institution down (``inactive``), ``degraded`` or back up (``active``)."""
    if status not in OUTAGE_STATUSES:
        raise BankError(
            400, "invalid_request", f"status must be one of {', '.join(OUTAGE_STATUSES)}."
        )
    setting = session.get(Setting, _outage_setting(key))
    if status == "active":
        if setting is not None:
            session.delete(setting)
        return
    if setting is None:
        session.add(Setting(name=_outage_setting(key), value=status))
    else:
        setting.value = status


def institution_status(
    inst: SandboxInstitution, now: datetime, outage: str | None = None
) -> dict[str, Any]:
    if outage is not None:
        return {"status": outage, "maintenance_window": None}
    if inst.has(Feature.down_scheduled):
        start, end = maintenance_window(now)
        return {
            "status": "inactive",
            "maintenance_window": {
                "starts_at": int(start.timestamp()),
                "ends_at": int(end.timestamp()),
            },
        }
    if inst.has(Feature.down_unscheduled) or inst.has(Feature.down_error):
        return {"status": "degraded", "maintenance_window": None}
    return {"status": "active", "maintenance_window": None}


@dataclass(frozen=True, slots=True)
class IssuedTokens:
    grant: Grant
    access_token: str
    access_expires_at: datetime | None
    refresh_token: str | None

    def response(self, now: datetime) -> dict[str, Any]:
        """The RFC 6749 token response, plus the consent's end (`consent_expires_at`)."""
        body: dict[str, Any] = {
            "access_token": self.access_token,
            "token_type": "Bearer",
            "scope": self.grant.scope,
            "consent_expires_at": _unix(self.grant.expires_at),
            "accounts": list(self.grant.account_ids),
            "username": self.grant.username,  # the login signed in to (sandbox only)
        }
        if self.access_expires_at is not None:
            body["expires_in"] = int((self.access_expires_at - now).total_seconds())
        if self.refresh_token is not None:
            body["refresh_token"] = self.refresh_token
        return body


def _unix(value: datetime | None) -> int | None:
    return int(value.timestamp()) if value is not None else None


def create_grant(
    session: Session,
    *,
    inst: SandboxInstitution,
    username: str,
    account_ids: list[str],
    client: Client | None,
    scope: str,
    now: datetime,
    reauthentication: bool | None = None,
) -> IssuedTokens:
    """Record a consent and issue its tokens (access+refresh for OAuth, one for credentials).

    `sequence` counts the user's authentications at this institution; institutions that
    break "after linking" break only the first one, so a relink repairs them.
    """
    previous = session.scalar(
        select(func.count())
        .select_from(Grant)
        .where(Grant.institution == inst.key, Grant.username == username)
    )
    sequence = (previous or 0) + 1
    if reauthentication is not None:
        sequence = 2 if reauthentication else 1
    expires_at: datetime | None = None
    if inst.has(Feature.consent_expires_30_days):
        expires_at = now + timedelta(days=30)
    elif inst.has(Feature.reauth_expires_next_day) and sequence > 1:
        expires_at = now + timedelta(days=1)
    grant = Grant(
        id=new_secret("sbgrant")[:40],
        kind="oauth" if client is not None else "credentials",
        client_id=client.client_id if client is not None else None,
        app_name=client.name if client is not None else "Credential access (Relink)",
        institution=inst.key,
        username=username,
        account_ids=list(account_ids),
        scope=scope,
        sequence=sequence,
        authenticated_at=now,
        expires_at=expires_at,
        deactivate_on_refresh=inst.has(Feature.inactive_after_first_refresh) and sequence == 1,
        revoked_at=None,
        revoked_by=None,
        deactivated_cause=None,
        closed_account_ids=[],
        unavailable_account_ids=[],
    )
    session.add(grant)
    session.flush()
    if client is None:
        access = new_secret("sbsess")
        session.add(Token(token_hash=hash_secret(access), grant_id=grant.id, kind="access"))
        return IssuedTokens(grant, access, None, None)
    access_expires_at = now + ACCESS_TOKEN_LIFETIME
    access, refresh = new_secret("sbat"), new_secret("sbrt")
    session.add_all(
        [
            Token(
                token_hash=hash_secret(access),
                grant_id=grant.id,
                kind="access",
                expires_at=access_expires_at,
            ),
            Token(token_hash=hash_secret(refresh), grant_id=grant.id, kind="refresh"),
        ]
    )
    return IssuedTokens(grant, access, access_expires_at, refresh)


def issue_access_token(session: Session, grant: Grant, now: datetime) -> tuple[str, datetime]:
    access = new_secret("sbat")
    expires_at = now + ACCESS_TOKEN_LIFETIME
    session.add(
        Token(
            token_hash=hash_secret(access), grant_id=grant.id, kind="access", expires_at=expires_at
        )
    )
    return access, expires_at


def grant_problem(grant: Grant, now: datetime) -> BankError | None:
    """Why this grant may no longer be used, as the bank answers it; None when usable."""
    if grant.revoked_at is not None:
        by = "the account holder" if grant.revoked_by == "holder" else "the app"
        return invalid_token(f"The consent was revoked by {by}.", "consent_revoked")
    if grant.deactivated_cause is not None:
        status, error, reason, description = _DEACTIVATION_ANSWERS[grant.deactivated_cause]
        if status == 401:
            return invalid_token(description, reason)
        return BankError(status, error, description, reason=reason)
    if grant.expires_at is not None and grant.expires_at <= now:
        return invalid_token("The consent has expired.", "consent_expired")
    return None


def find_token(session: Session, raw: str) -> Token | None:
    return session.get(Token, hash_secret(raw))


def bearer_token(authorization: str | None) -> str:
    if not authorization or not authorization.lower().startswith("bearer "):
        raise BankError(
            401,
            "invalid_request",
            "A bearer token is required.",
            headers={"WWW-Authenticate": 'Bearer realm="sandbox-bank"'},
        )
    return authorization[7:].strip()


def authenticate(session: Session, authorization: str | None, now: datetime) -> Grant:
    """The grant behind a bearer token, after every check a real bank would make."""
    token = find_token(session, bearer_token(authorization))
    if token is None or token.kind != "access":
        raise invalid_token("The access token is unknown.", "token_unknown")
    grant = session.get(Grant, token.grant_id)
    if grant is None:
        raise invalid_token("The access token is unknown.", "token_unknown")
    ensure_available(session, known_institution(grant.institution), now)
    problem = grant_problem(grant, now)
    if problem is not None:
        raise problem
    if token.expires_at is not None and token.expires_at <= now:
        raise invalid_token("The access token has expired.", "token_expired")
    return grant


def grant_for_any_token(session: Session, authorization: str | None) -> Grant:
    """The grant behind any of its tokens, expired or not (test-helper control calls)."""
    token = find_token(session, bearer_token(authorization))
    grant = session.get(Grant, token.grant_id) if token is not None else None
    if grant is None:
        raise invalid_token("The token is unknown.", "token_unknown")
    return grant


def revoke_grant(grant: Grant, *, by: str, now: datetime) -> None:
    if grant.revoked_at is None:
        grant.revoked_at = now
        grant.revoked_by = by


def authenticate_client(
    session: Session, client_id: str | None, client_secret: str | None
) -> Client:
    client = session.get(Client, client_id) if client_id else None
    if client is None or not hmac.compare_digest(
        client.secret_hash, hash_secret(client_secret or "")
    ):
        raise BankError(
            401,
            "invalid_client",
            "Client authentication failed.",
            headers={"WWW-Authenticate": 'Basic realm="sandbox-bank"'},
        )
    return client
