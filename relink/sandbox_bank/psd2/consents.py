"""Consents, authorisations and account access of the PSD2 ASPSPs: the bank's rules.

Statuses follow the document: a consent is `received` until its SCA ends (`valid` or
`rejected`); it becomes `expired` once the bank's date passes `validUntil`,
`terminatedByTpp` on `DELETE`, `revokedByPsu` when the holder revokes it in the
security center. Unattended reads (no `PSU-IP-Address`) are limited to
`frequencyPerDay` per account and endpoint per UTC day.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, StrictBool, StrictInt, StrictStr, ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from relink.sandbox_bank.models import Psd2Authorisation, Psd2Consent, Psd2PageFlow, Psd2Token
from relink.sandbox_bank.psd2.aspsps import Approach, Psd2Aspsp
from relink.sandbox_bank.psd2.data import Psd2Account, accounts_for, resource_id, today_of
from relink.sandbox_bank.psd2.errors import Psd2Error, consent_unknown, format_error
from relink.sandbox_bank.store import hash_secret, new_secret

MAX_VALIDITY_DAYS = 180  # PSD2's re-authentication limit; "9999-12-31" asks for it
MAX_FREQUENCY_PER_DAY = 4  # the document's maximum without a bilateral agreement
LIVE_STATUSES = frozenset({"received", "valid", "partiallyAuthorised"})


class _Reference(BaseModel):
    model_config = ConfigDict(extra="forbid")
    iban: StrictStr
    currency: StrictStr | None = None


class _Access(BaseModel):
    model_config = ConfigDict(extra="forbid")
    accounts: list[_Reference] = []
    balances: list[_Reference] = []
    transactions: list[_Reference] = []


class _ConsentRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    access: _Access
    recurringIndicator: StrictBool
    validUntil: date
    frequencyPerDay: StrictInt
    combinedServiceIndicator: StrictBool


_UNSUPPORTED_ACCESS = (
    "statements",
    "additionalInformation",
    "availableAccounts",
    "availableAccountsWithBalance",
    "allPsd2",
    "restrictedTo",
)


def parse_consent_request(body: Any) -> _ConsentRequest:
    """The body of `POST /v1/consents`; anything else is a 400 naming the field."""
    if not isinstance(body, dict):
        raise format_error("The body must be a JSON object (consents).")
    access = body.get("access")
    if isinstance(access, dict):
        for key in _UNSUPPORTED_ACCESS:
            if key in access:
                raise Psd2Error(
                    400,
                    "PARAMETER_NOT_SUPPORTED",
                    f"access.{key} is not offered by this ASPSP.",
                    path=f"access.{key}",
                )
        for key in ("accounts", "balances", "transactions"):
            for reference in access.get(key) or []:
                if isinstance(reference, dict) and "iban" not in reference:
                    raise Psd2Error(
                        400,
                        "PARAMETER_NOT_SUPPORTED",
                        "Accounts are addressed by IBAN at this ASPSP.",
                        path=f"access.{key}",
                    )
    try:
        request = _ConsentRequest.model_validate(body)
    except ValidationError as error:
        first = error.errors()[0]
        path = ".".join(str(part) for part in first["loc"])
        raise format_error(f"{path}: {first['msg']}", path=path) from None
    if request.frequencyPerDay < 1:
        raise format_error("frequencyPerDay must be at least 1.", path="frequencyPerDay")
    return request


@dataclass(frozen=True, slots=True)
class Created:
    consent: Psd2Consent
    authorisation: Psd2Authorisation
    page_token: str | None  # the secret of the redirect SCA pages


def _new_id(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(12)}"


def _normal_iban(value: str) -> str:
    return value.replace(" ", "").upper()


def create_consent(
    session: Session,
    aspsp: Psd2Aspsp,
    body: Any,
    *,
    now: datetime,
    psu_id: str | None,
    redirect_uri: str | None,
    nok_redirect_uri: str | None,
    token: Psd2Token | None,
) -> Created:
    request = parse_consent_request(body)
    today = today_of(now)
    if request.validUntil < today:
        raise format_error("validUntil lies in the past.", path="validUntil")
    if aspsp.approach is Approach.redirect and not redirect_uri:
        raise format_error(
            "TPP-Redirect-URI is required for the redirect approach.", path="TPP-Redirect-URI"
        )
    access = request.access
    balance_ibans = [_normal_iban(r.iban) for r in access.balances]
    transaction_ibans = [_normal_iban(r.iban) for r in access.transactions]
    ibans = list(
        dict.fromkeys([_normal_iban(r.iban) for r in access.accounts]
                      + balance_ibans + transaction_ibans)
    )  # fmt: skip
    consent = Psd2Consent(
        id=_new_id("consent"),
        aspsp=aspsp.key,
        status="received",
        access=access.model_dump(exclude_none=True),
        bank_offered=not ibans,
        ibans=ibans,
        balance_ibans=balance_ibans,
        transaction_ibans=transaction_ibans,
        recurring=request.recurringIndicator,
        valid_until=min(request.validUntil, today + timedelta(days=MAX_VALIDITY_DAYS)).isoformat(),
        frequency_per_day=min(request.frequencyPerDay, MAX_FREQUENCY_PER_DAY)
        if request.recurringIndicator
        else 1,
        combined_service=request.combinedServiceIndicator,
        psu_id=psu_id,
        username=None,
        redirect_uri=redirect_uri,
        nok_redirect_uri=nok_redirect_uri,
        last_action_date=today.isoformat(),
        usage={},
        created_at=now,
        status_changed_at=now,
    )
    session.add(consent)
    session.flush()  # the authorisation refers to it
    authorisation = Psd2Authorisation(
        id=_new_id("auth"),
        consent_id=consent.id,
        approach=aspsp.sca_approach_header,
        sca_status="received",
        created_at=now,
    )
    session.add(authorisation)
    page_token = None
    if aspsp.approach is Approach.oauth:
        # The holder authenticated (SCA) and chose accounts at the OAuth2 pre-step.
        assert token is not None
        _grant_after_pre_step(aspsp, consent, token)
        authorisation.sca_status = "finalised"
    elif aspsp.approach is Approach.decoupled:
        authorisation.sca_status = "started"  # pushed to the holder's banking app
    else:
        page_token = start_redirect_pages(session, aspsp, authorisation)
    session.flush()
    return Created(consent, authorisation, page_token)


def _grant_after_pre_step(aspsp: Psd2Aspsp, consent: Psd2Consent, token: Psd2Token) -> None:
    holder = {a.iban for a in accounts_for(aspsp, token.username)}
    if consent.bank_offered:
        chosen = list(token.ibans)
    else:
        chosen = [iban for iban in consent.ibans if iban in holder]
        if not chosen:
            raise Psd2Error(
                400, "RESOURCE_UNKNOWN", "None of these accounts is the PSU's.", path="access"
            )
    grant_accounts(consent, token.username, chosen)
    consent.status = "valid"


def grant_accounts(consent: Psd2Consent, username: str, chosen: list[str]) -> None:
    """Bind the consent to its holder and the accounts they share."""
    consent.username = username
    if consent.bank_offered:
        consent.ibans = list(chosen)
        consent.balance_ibans = list(chosen)
        consent.transaction_ibans = list(chosen)
        consent.access = {
            key: [{"iban": iban} for iban in chosen]
            for key in ("accounts", "balances", "transactions")
        }
    else:
        keep = set(chosen)
        consent.ibans = [i for i in consent.ibans if i in keep]
        consent.balance_ibans = [i for i in consent.balance_ibans if i in keep]
        consent.transaction_ibans = [i for i in consent.transaction_ibans if i in keep]


def start_redirect_pages(
    session: Session, aspsp: Psd2Aspsp, authorisation: Psd2Authorisation
) -> str:
    from relink.sandbox_bank.clock import wall_clock

    token = new_secret("psd2sca")
    session.add(
        Psd2PageFlow(
            id_hash=hash_secret(token),
            aspsp=aspsp.key,
            authorisation_id=authorisation.id,
            step="login",
            failed_codes=0,
            created_at=wall_clock(),
        )
    )
    return token


def set_status(consent: Psd2Consent, status: str, now: datetime) -> None:
    if consent.status != status:
        consent.status = status
        consent.status_changed_at = now


def effective_status(consent: Psd2Consent, now: datetime) -> str:
    """The status as of `now`: a valid consent past its `validUntil` is expired."""
    if consent.status == "valid" and today_of(now) > date.fromisoformat(consent.valid_until):
        set_status(consent, "expired", now)
    return consent.status


def find_consent(session: Session, aspsp: Psd2Aspsp, consent_id: str, now: datetime) -> Psd2Consent:
    consent = session.get(Psd2Consent, consent_id) if consent_id else None
    if consent is None or consent.aspsp != aspsp.key:
        raise consent_unknown()
    effective_status(consent, now)
    return consent


def terminate(consent: Psd2Consent, now: datetime) -> None:
    if consent.status not in LIVE_STATUSES:
        raise Psd2Error(409, "STATUS_INVALID", f"The consent is already {consent.status}.")
    if consent.status == "received":
        for authorisation in consent_authorisations_pending(consent):
            authorisation.sca_status = "failed"
    set_status(consent, "terminatedByTpp", now)


def consent_authorisations_pending(consent: Psd2Consent) -> list[Psd2Authorisation]:
    from sqlalchemy.orm import object_session

    session = object_session(consent)
    if session is None:
        return []
    return [
        a
        for a in authorisations_of(session, consent.id)
        if a.sca_status not in ("finalised", "failed", "exempted")
    ]


def authorisations_of(session: Session, consent_id: str) -> list[Psd2Authorisation]:
    return list(
        session.scalars(
            select(Psd2Authorisation)
            .where(Psd2Authorisation.consent_id == consent_id)
            .order_by(Psd2Authorisation.created_at, Psd2Authorisation.id)
        )
    )


def find_authorisation(
    session: Session, consent: Psd2Consent, authorisation_id: str
) -> Psd2Authorisation:
    authorisation = session.get(Psd2Authorisation, authorisation_id)
    if authorisation is None or authorisation.consent_id != consent.id:
        raise Psd2Error(403, "RESOURCE_UNKNOWN", "The authorisation is unknown.")
    return authorisation


def start_authorisation(
    session: Session, aspsp: Psd2Aspsp, consent: Psd2Consent, now: datetime
) -> tuple[Psd2Authorisation, str | None]:
    """An explicit start (`POST .../authorisations`) for a consent still `received`."""
    if consent.status != "received":
        raise Psd2Error(409, "STATUS_INVALID", f"The consent is already {consent.status}.")
    authorisation = Psd2Authorisation(
        id=_new_id("auth"),
        consent_id=consent.id,
        approach=aspsp.sca_approach_header,
        sca_status="started" if aspsp.approach is Approach.decoupled else "received",
        created_at=now,
    )
    session.add(authorisation)
    page_token = None
    if aspsp.approach is not Approach.decoupled:
        page_token = start_redirect_pages(session, aspsp, authorisation)
    session.flush()
    return authorisation, page_token


# ---------------------------------------------------------------------- account access


def consent_for_access(consent: Psd2Consent) -> None:
    """Refuse a consent that does not grant access (any more)."""
    if consent.status == "expired":
        raise Psd2Error(401, "CONSENT_EXPIRED", "The consent has expired (validUntil).")
    if consent.status != "valid":
        raise Psd2Error(401, "CONSENT_INVALID", f"The consent is {consent.status}.")


def shared_accounts(aspsp: Psd2Aspsp, consent: Psd2Consent) -> list[tuple[str, Psd2Account]]:
    """(resourceId in this consent, account) for every account the consent covers."""
    covered = set(consent.ibans)
    return [
        (resource_id(consent.id, account.iban), account)
        for account in accounts_for(aspsp, consent.username or "")
        if account.iban in covered
    ]


def shared_account(aspsp: Psd2Aspsp, consent: Psd2Consent, account_id: str) -> Psd2Account:
    for rid, account in shared_accounts(aspsp, consent):
        if rid == account_id:
            return account
    raise Psd2Error(404, "RESOURCE_UNKNOWN", "The account is unknown under this consent.")


def require_right(consent: Psd2Consent, account: Psd2Account, right: str) -> None:
    granted = consent.balance_ibans if right == "balances" else consent.transaction_ibans
    if account.iban not in granted:
        raise Psd2Error(401, "CONSENT_INVALID", f"The consent does not cover {right}.")


def count_unattended_read(
    consent: Psd2Consent, what: str, now: datetime, *, psu_present: bool
) -> None:
    """`frequencyPerDay`: reads the PSU did not start are counted per account and
    endpoint per UTC day; one past the limit is a 429 ACCESS_EXCEEDED."""
    today = today_of(now)
    consent.last_action_date = today.isoformat()
    if psu_present:
        return
    day = today.isoformat()
    counts = dict((consent.usage or {}).get(day, {}))
    if counts.get(what, 0) >= consent.frequency_per_day:
        tomorrow = datetime.combine(today + timedelta(days=1), datetime.min.time(), now.tzinfo)
        raise Psd2Error(
            429,
            "ACCESS_EXCEEDED",
            f"frequencyPerDay ({consent.frequency_per_day}) is used up for today.",
            headers={"Retry-After": str(max(1, int((tomorrow - now).total_seconds())))},
        )
    counts[what] = counts.get(what, 0) + 1
    consent.usage = {day: counts}  # earlier days are of no further use


# ---------------------------------------------------------------------- the holder


def revoke_by_psu(
    session: Session, aspsp: Psd2Aspsp, username: str, consent_id: str, now: datetime
) -> bool:
    consent = session.get(Psd2Consent, consent_id)
    if consent is None or consent.aspsp != aspsp.key or consent.username != username:
        return False
    if effective_status(consent, now) == "valid":
        set_status(consent, "revokedByPsu", now)
    return True


def holder_consents(
    session: Session, aspsp: Psd2Aspsp, username: str, now: datetime
) -> list[Psd2Consent]:
    consents = list(
        session.scalars(
            select(Psd2Consent)
            .where(Psd2Consent.aspsp == aspsp.key, Psd2Consent.username == username)
            .order_by(Psd2Consent.created_at.desc(), Psd2Consent.id)
        )
    )
    for consent in consents:
        effective_status(consent, now)
    return consents


def awaiting_approval(
    session: Session, aspsp: Psd2Aspsp, username: str
) -> list[tuple[Psd2Consent, Psd2Authorisation]]:
    """Decoupled authorisations the holder may approve: those sent with their PSU-ID,
    and (a sandbox simplification) those sent without any PSU-ID."""
    rows = session.execute(
        select(Psd2Consent, Psd2Authorisation)
        .join(Psd2Authorisation, Psd2Authorisation.consent_id == Psd2Consent.id)
        .where(
            Psd2Consent.aspsp == aspsp.key,
            Psd2Consent.status == "received",
            Psd2Authorisation.approach == "DECOUPLED",
            Psd2Authorisation.sca_status == "started",
        )
        .order_by(Psd2Consent.created_at.desc())
    ).all()
    return [
        (consent, authorisation)
        for consent, authorisation in rows
        if consent.psu_id is None or consent.psu_id.strip().lower() == username
    ]


def decide_decoupled(
    session: Session,
    aspsp: Psd2Aspsp,
    username: str,
    authorisation_id: str,
    *,
    approve: bool,
    chosen: list[str],
    now: datetime,
) -> str | None:
    """The holder approves (with the accounts they share) or denies; an error text
    when the choice cannot be taken."""
    for consent, authorisation in awaiting_approval(session, aspsp, username):
        if authorisation.id != authorisation_id:
            continue
        if not approve:
            authorisation.sca_status = "failed"
            set_status(consent, "rejected", now)
            return None
        offered = offered_ibans(aspsp, consent, username)
        picked = [iban for iban in offered if iban in set(chosen)]
        if not picked:
            return "Choose at least one account to share."
        grant_accounts(consent, username, picked)
        authorisation.sca_status = "finalised"
        set_status(consent, "valid", now)
        return None
    return "This request is no longer waiting for your approval."


def offered_ibans(aspsp: Psd2Aspsp, consent: Psd2Consent, username: str) -> list[str]:
    """The holder's accounts this consent may cover: all of them for a bank-offered
    consent, else the requested ones the holder has."""
    holder = [a.iban for a in accounts_for(aspsp, username)]
    if consent.bank_offered:
        return holder
    return [iban for iban in holder if iban in set(consent.ibans)]


def find_token(session: Session, raw: str, kind: str) -> Psd2Token | None:
    token = session.get(Psd2Token, hash_secret(raw)) if raw else None
    if token is None or token.kind != kind:
        return None
    return token
