"""NextGenPSD2 XS2A (AIS) on the wire: pure mapping, no HTTP.

Requests Relink sends and answers it reads, in the shapes of the Berlin Group's OpenAPI
document (v1.3.16), and the bank's error answers turned into connector error *types* from
their machine-readable `tppMessages` codes. What maps to what is in docs/connectors.md.

Identity: an account's `stable_id` is its IBAN (else `bban:…`, else `maskedPan:…`),
never its `resourceId`, which a bank may change with every consent.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, NoReturn
from zoneinfo import ZoneInfo

from babel.numbers import get_currency_precision

from relink.connectors.base import (
    AccessDenied,
    AccessExpired,
    AccountCategory,
    AccountUnavailable,
    Balance,
    BankAccount,
    ConnectorError,
    InstitutionDown,
    Owner,
    RateLimited,
    Transaction,
    Unexpected,
)

# ------------------------------------------------------------------ consents

FINAL_SCA_STATUSES = frozenset({"finalised", "failed", "exempted"})


@dataclass(frozen=True, slots=True)
class ConsentCreated:
    consent_id: str
    status: str
    approach: str | None  # the ASPSP-SCA-Approach header: REDIRECT, DECOUPLED, EMBEDDED
    sca_redirect: str | None
    start_authorisation: str | None
    sca_status: str | None  # the link to the authorisation's status, when the bank gave one


def consent_request(
    *, valid_until: dt.date, frequency_per_day: int, accounts: Sequence[str] = ()
) -> dict[str, Any]:
    """The body of `POST /v1/consents`: recurring access to accounts, balances and
    transactions. No `accounts`: a bank-offered consent (the holder picks at the bank,
    the Berlin Group's empty lists); else exactly those accounts (a relink)."""
    references = [account_reference(stable_id) for stable_id in accounts]
    return {
        "access": {
            "accounts": references,
            "balances": references,
            "transactions": references,
        },
        "recurringIndicator": True,
        "validUntil": valid_until.isoformat(),
        "frequencyPerDay": frequency_per_day,
        "combinedServiceIndicator": False,
    }


def parse_consent_created(body: Mapping[str, Any], headers: Mapping[str, str]) -> ConsentCreated:
    links = body.get("_links") or {}
    return ConsentCreated(
        consent_id=_required_text(body, "consentId"),
        status=_required_text(body, "consentStatus"),
        approach=(headers.get("ASPSP-SCA-Approach") or "").upper() or None,
        sca_redirect=_href(links, "scaRedirect"),
        start_authorisation=_href(links, "startAuthorisation"),
        sca_status=_href(links, "scaStatus"),
    )


def consent_status(body: Mapping[str, Any]) -> str:
    return _required_text(body, "consentStatus")


def sca_status(body: Mapping[str, Any]) -> str:
    return _required_text(body, "scaStatus")


def started_authorisation(body: Mapping[str, Any]) -> tuple[str, str, str | None]:
    """`startScaprocessResponse`: (authorisationId, scaStatus, its scaStatus link)."""
    links = body.get("_links") or {}
    return (
        _required_text(body, "authorisationId"),
        _required_text(body, "scaStatus"),
        _href(links, "scaStatus"),
    )


def valid_until(body: Mapping[str, Any]) -> dt.date:
    return _date(_required_text(body, "validUntil"))


def expected_deactivation(until: dt.date, zone: ZoneInfo) -> dt.datetime:
    """`validUntil` is inclusive, in the bank's local date: the consent ends when that
    day ends there."""
    end = dt.datetime.combine(until + dt.timedelta(days=1), dt.time(), tzinfo=zone)
    return end.astimezone(dt.UTC)


# ------------------------------------------------------------------ accounts


def stable_id(reference: Mapping[str, Any]) -> str | None:
    """An account's identity across consents: IBAN, else BBAN, else masked PAN."""
    if reference.get("iban"):
        return str(reference["iban"]).replace(" ", "").upper()
    if reference.get("bban"):
        return f"bban:{reference['bban']}"
    if reference.get("maskedPan"):
        return f"maskedPan:{reference['maskedPan']}"
    return None


def account_reference(stable: str) -> dict[str, str]:
    """The `accountReference` naming an account of `stable_id` again (a relink)."""
    kind, _, value = stable.partition(":")
    if kind == "bban" and value:
        return {"bban": value}
    if kind == "maskedPan" and value:
        return {"maskedPan": value}
    return {"iban": stable}


# ISO 20022 ExternalCashAccountType1Code → (category, subcategory) of Financial Connections.
_CASH_ACCOUNT_TYPES: dict[str, tuple[AccountCategory, str]] = {
    "CACC": ("cash", "checking"),  # current account
    "TRAN": ("cash", "checking"),  # transacting account
    "SLRY": ("cash", "checking"),  # salary account
    "CASH": ("cash", "checking"),  # cash payment account
    "SVGS": ("cash", "savings"),
    "MOMA": ("cash", "savings"),  # money market
    "ONDP": ("cash", "savings"),  # overnight deposit
    "CARD": ("credit", "credit_card"),
    "LOAN": ("credit", "other"),
    "MGLD": ("credit", "other"),  # marginal lending
}


@dataclass(frozen=True, slots=True)
class SharedAccount:
    """One account of a consent: Relink's view, and the bank's id for it in this consent."""

    account: BankAccount
    resource_id: str


def parse_accounts(body: Mapping[str, Any]) -> list[SharedAccount]:
    """`GET /v1/accounts`: the enabled accounts that have an identity (others are skipped:
    Relink could never recognise them again)."""
    shared = []
    for details in body.get("accounts") or []:
        if not isinstance(details, dict) or details.get("status") in ("deleted", "blocked"):
            continue
        parsed = parse_account(details)
        if parsed is not None:
            shared.append(parsed)
    return shared


def parse_account(details: Mapping[str, Any]) -> SharedAccount | None:
    stable = stable_id(details)
    resource_id = details.get("resourceId")
    if stable is None or not resource_id:
        return None
    category, subcategory = _CASH_ACCOUNT_TYPES.get(
        str(details.get("cashAccountType") or ""), ("cash", "other")
    )
    currency = str(details.get("currency") or "XXX")
    name = details.get("displayName") or details.get("name") or details.get("product") or ""
    return SharedAccount(
        account=BankAccount(
            stable_id=stable,
            display_name=str(name),
            last4=_last4(stable),
            category=category,
            subcategory=subcategory,
            routing_number=None,
            # "XXX" is a multicurrency account: its balances say which currencies
            currency="" if currency == "XXX" else currency.lower(),
            # Financial Connections' payment method types are US (ACH) ones.
            supports_ach=False,
        ),
        resource_id=str(resource_id),
    )


def _last4(stable: str) -> str:
    digits = stable.partition(":")[2] or stable
    return digits[-4:]


def parse_owners(body: Mapping[str, Any]) -> list[Owner]:
    """`GET /v1/accounts/{id}` → the account's owners (`ownerNames`, else `ownerName`)."""
    details = body.get("account") or {}
    names = [
        str(owner["name"])
        for owner in details.get("ownerNames") or []
        if isinstance(owner, dict) and owner.get("name")
    ]
    if not names and details.get("ownerName"):
        names = [str(details["ownerName"])]
    return [Owner(name=name, email=None, phone=None, raw_address=None) for name in names]


# ------------------------------------------------------------------ money


def minor_units(amount: Mapping[str, Any]) -> tuple[int, str]:
    """An `amount` {currency, amount: "-12.30"} in minor units of its currency (by the
    currency's precision: 2 for EUR, 0 for JPY, 3 for KWD), with the currency lowercased."""
    currency = str(amount.get("currency") or "")
    try:
        value = Decimal(str(amount.get("amount")))
    except InvalidOperation:
        raise Unexpected("the bank sent an amount that is not a number") from None
    scaled = value.scaleb(get_currency_precision(currency))
    if scaled != scaled.to_integral_value():
        raise Unexpected(f"the bank sent more decimals than {currency} has")
    return int(scaled), currency.lower()


# Which balance Financial Connections' "current" and "available" are, best first.
_CURRENT = ("interimBooked", "closingBooked", "expected", "openingBooked")
_AVAILABLE = ("interimAvailable", "forwardAvailable", "expected")


def parse_balance(body: Mapping[str, Any], *, kind: str, now: dt.datetime) -> Balance:
    """`GET .../balances` → one Balance: per currency, the first balance type of
    `_CURRENT` as `current` and of `_AVAILABLE` as `available`."""
    by_type: dict[str, list[Mapping[str, Any]]] = {}
    for balance in body.get("balances") or []:
        if isinstance(balance, dict) and balance.get("balanceAmount"):
            by_type.setdefault(str(balance.get("balanceType")), []).append(balance)
    current = _pick(by_type, _CURRENT)
    if not current:
        raise Unexpected("the bank sent no booked or expected balance")
    available = _pick(by_type, _AVAILABLE)
    stamps = [
        _balance_time(b)
        for kind_balances in by_type.values()
        for b in kind_balances
        if _balance_time(b) is not None
    ]
    return Balance(
        as_of=max(s for s in stamps if s is not None) if stamps else now,
        current={c: v for c, (v, _) in current.items()},
        available={c: v for c, (v, _) in available.items()} if available else None,
        kind="credit" if kind == "credit" else "cash",
    )


def _pick(
    by_type: Mapping[str, list[Mapping[str, Any]]], order: Sequence[str]
) -> dict[str, tuple[int, str]]:
    picked: dict[str, tuple[int, str]] = {}
    for balance_type in order:
        for balance in by_type.get(balance_type, []):
            value, currency = minor_units(balance["balanceAmount"])
            picked.setdefault(currency, (value, balance_type))
    return picked


def _balance_time(balance: Mapping[str, Any]) -> dt.datetime | None:
    if balance.get("lastChangeDateTime"):
        return _datetime(str(balance["lastChangeDateTime"]))
    if balance.get("referenceDate"):
        return dt.datetime.combine(_date(str(balance["referenceDate"])), dt.time(), dt.UTC)
    return None


# ------------------------------------------------------------------ transactions


def parse_transactions(body: Mapping[str, Any]) -> list[Transaction]:
    """`GET .../transactions` (JSON): booked → posted, pending → pending."""
    report = body.get("transactions") or {}
    parsed = [_transaction(t, "posted") for t in report.get("booked") or []]
    parsed += [_transaction(t, "pending") for t in report.get("pending") or []]
    return parsed


def next_page(body: Mapping[str, Any]) -> str | None:
    return _href((body.get("transactions") or {}).get("_links") or {}, "next")


def _transaction(data: Mapping[str, Any], status: str) -> Transaction:
    amount, currency = minor_units(data["transactionAmount"])
    booked = _optional_date(data.get("bookingDate"))
    valued = _optional_date(data.get("valueDate"))
    day = booked or valued
    if day is None:
        raise Unexpected("the bank sent a transaction without a booking or value date")
    return Transaction(
        stable_id=_transaction_id(data, status),
        amount=amount,
        currency=currency,
        description=_description(data, amount),
        status="posted" if status == "posted" else "pending",
        transacted_at=dt.datetime.combine(valued or day, dt.time(), dt.UTC),
        posted_at=dt.datetime.combine(booked, dt.time(), dt.UTC)
        if status == "posted" and booked
        else None,
    )


def _transaction_id(data: Mapping[str, Any], status: str) -> str:
    """The bank's id; without one, a digest of what the transaction says (a pending one
    that is booked later may then appear once more: the bank gave nothing to match)."""
    for key in ("transactionId", "entryReference"):
        if data.get(key):
            return str(data[key])
    fingerprint = json.dumps(
        {k: data.get(k) for k in sorted(data) if k != "_links"}, sort_keys=True, default=str
    )
    return f"{status}:{hashlib.sha256(fingerprint.encode()).hexdigest()[:32]}"


def _description(data: Mapping[str, Any], amount: int) -> str:
    unstructured = data.get("remittanceInformationUnstructured")
    if unstructured:
        return str(unstructured)
    lines = data.get("remittanceInformationUnstructuredArray") or []
    if lines:
        return " ".join(str(line) for line in lines)
    counterparty = data.get("creditorName") if amount < 0 else data.get("debtorName")
    return str(counterparty or data.get("additionalInformation") or "")


# ------------------------------------------------------------------ errors


def bank_codes(response_body: Any) -> tuple[str, ...]:
    """The machine-readable codes of an error body (`tppMessages` of Error4xx_NG_AIS or
    the RFC 7807 `code` / `additionalErrors` of Error4xx_AIS). Free text is left out: a
    bank may put personal data in it."""
    if not isinstance(response_body, dict):
        return ()
    codes: list[str] = []
    for message in response_body.get("tppMessages") or []:
        if isinstance(message, dict) and message.get("code"):
            codes.append(str(message["code"]))
    if response_body.get("code"):
        codes.append(str(response_body["code"]))
    for extra in response_body.get("additionalErrors") or []:
        if isinstance(extra, dict) and extra.get("code"):
            codes.append(str(extra["code"]))
    return tuple(dict.fromkeys(codes))


def retry_after(headers: Mapping[str, str]) -> int | None:
    raw = headers.get("Retry-After")
    if raw is None:
        return None
    try:
        return max(0, int(raw))
    except ValueError:
        return None


# (HTTP status, code) → what the holder's connection needs.
_EXPIRED = {(401, "CONSENT_EXPIRED"), (403, "RESOURCE_EXPIRED"), (400, "RESOURCE_EXPIRED")}
_DENIED = {
    (401, "CONSENT_INVALID"),
    (403, "CONSENT_UNKNOWN"),
    (400, "CONSENT_UNKNOWN"),
    (401, "CONSENT_UNKNOWN"),  # not a 401 code in the document, but banks send it
    (401, "TOKEN_INVALID"),
    (401, "TOKEN_UNKNOWN"),
    (401, "TOKEN_EXPIRED"),
}
_ACCOUNT_GONE = {(403, "RESOURCE_UNKNOWN"), (404, "RESOURCE_UNKNOWN"), (403, "SERVICE_BLOCKED")}


def bank_error(status: int, body: Any, headers: Mapping[str, str], *, what: str) -> ConnectorError:
    """The connector error for a failed answer to `what` (e.g. "GET /v1/accounts")."""
    codes = bank_codes(body)
    shown = ", ".join(codes) or "no code"
    message = f"{what}: HTTP {status} ({shown})"
    error: ConnectorError
    if status in (408, 500, 502, 503, 504) or status >= 500:
        error = InstitutionDown(message, retry_after=retry_after(headers), scheduled=False)
    elif status == 429:
        error = RateLimited(message, retry_after=retry_after(headers))
    elif any((status, code) in _EXPIRED for code in codes):
        error = AccessExpired(message)
    elif any((status, code) in _DENIED for code in codes):
        error = AccessDenied(message)
    elif any((status, code) in _ACCOUNT_GONE for code in codes):
        error = AccountUnavailable(message)
    else:
        error = Unexpected(message)
    error.bank_codes = codes
    return error


def raise_for_consent_status(status: str) -> NoReturn:
    """A consent that can no longer be used, by its status."""
    if status == "expired":
        raise AccessExpired("the consent expired")
    if status in ("revokedByPsu", "terminatedByTpp", "rejected"):
        raise AccessDenied(f"the consent is {status}")
    raise Unexpected(f"the consent is {status}")


# ------------------------------------------------------------------ helpers


def _href(links: Mapping[str, Any], name: str) -> str | None:
    link = links.get(name)
    if isinstance(link, dict) and link.get("href"):
        return str(link["href"])
    return None


def _required_text(body: Mapping[str, Any], key: str) -> str:
    value = body.get(key)
    if value is None or value == "":
        raise Unexpected(f"the bank's answer has no {key}")
    return str(value)


def _date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise Unexpected(f"the bank sent a date that is not ISO 8601: {value!r}") from None


def _optional_date(value: Any) -> dt.date | None:
    return _date(str(value)) if value else None


def _datetime(value: str) -> dt.datetime:
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        raise Unexpected("the bank sent a time that is not ISO 8601") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)
