"""The JSON bank API both shipped connectors speak (the sandbox bank's shape).

Turns bank answers into connector dataclasses, and bank errors into connector error
*types*. The bank's machine-readable `error` / `error_reason` fields decide; the human
`error_description` is only carried along as the message.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, NoReturn

import httpx

from relink.connectors.base import (
    AccessDenied,
    AccessExpired,
    AccountClosed,
    AccountUnavailable,
    Balance,
    BankAccount,
    BankServerError,
    ChallengeRequired,
    ConnectorError,
    InstitutionDown,
    InstitutionRequirement,
    Owner,
    Tan,
    TanStatus,
    Transaction,
    Unexpected,
)

_CATEGORIES = {"cash": "cash", "credit": "credit", "investment": "investment"}


def timestamp(value: Any) -> datetime | None:
    if value is None:
        return None
    return datetime.fromtimestamp(int(value), UTC)


def json_body(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        raise Unexpected(f"bank answered {response.status_code} with a non-JSON body") from None
    if not isinstance(body, dict):
        raise Unexpected("bank answered with JSON that is not an object")
    return body


def _retry_after(response: httpx.Response) -> int | None:
    raw = response.headers.get("Retry-After")
    if raw is None:
        return None
    try:
        return max(0, int(raw))
    except ValueError:
        return None


def raise_bank_error(response: httpx.Response) -> NoReturn:
    """Raise the connector error that says what to do about this failed answer."""
    status = response.status_code
    try:
        body = response.json()
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    error = str(body.get("error", ""))
    reason = str(body.get("error_reason", ""))
    message = str(body.get("error_description") or error or f"HTTP {status}")
    if status in (503, 429):
        scheduled = "maintenance_window" in body or reason == "scheduled_maintenance"
        raise InstitutionDown(message, retry_after=_retry_after(response), scheduled=scheduled)
    if status >= 500:
        raise BankServerError(message)
    if reason == "mfa_required":
        raise ChallengeRequired(message)
    if reason == "consent_expired":
        raise AccessExpired(message)
    if error in ("invalid_token", "invalid_grant"):
        raise AccessDenied(message)
    if error == "institution_requirement":
        raise InstitutionRequirement(message)
    if error == "account_closed":
        raise AccountClosed(message)
    if error in ("account_unavailable", "account_not_found"):
        raise AccountUnavailable(message)
    raise Unexpected(message)


def transport_failure(error: httpx.TransportError) -> ConnectorError:
    """A bank we cannot reach is down, not broken: retry later."""
    return InstitutionDown(
        f"bank unreachable: {type(error).__name__}", retry_after=None, scheduled=False
    )


def parse_account(data: dict[str, Any]) -> BankAccount:
    category = _CATEGORIES.get(str(data.get("category")), "other")
    return BankAccount(
        stable_id=str(data["id"]),
        display_name=str(data.get("display_name") or ""),
        last4=str(data.get("last4") or ""),
        category=category,  # type: ignore[arg-type]  # narrowed by _CATEGORIES
        subcategory=str(data.get("subcategory") or "other"),
        routing_number=str(data["routing_number"]) if data.get("routing_number") else None,
        currency=str(data.get("currency") or "usd"),
        supports_ach="ach" in (data.get("payment_networks") or []),
    )


def parse_tans(body: dict[str, Any]) -> list[Tan]:
    return [
        Tan(
            number=str(item["account_number"]),
            routing_number=str(item["routing_number"]),
            status=TanStatus(str(item["status"])),
            expected_expiry_date=timestamp(item.get("expected_expiry_date")),
        )
        for item in body.get("data", [])
        if item.get("network") == "ach"
    ]


def parse_balance(body: dict[str, Any]) -> Balance:
    available = body.get("available")
    return Balance(
        as_of=timestamp(body["as_of"]) or datetime.now(UTC),
        current={str(k): int(v) for k, v in body["current"].items()},
        available={str(k): int(v) for k, v in available.items()} if available else None,
        kind="credit" if body.get("type") == "credit" else "cash",
    )


def parse_owners(body: dict[str, Any]) -> list[Owner]:
    return [
        Owner(
            name=str(item.get("name") or ""),
            email=item.get("email"),
            phone=item.get("phone"),
            raw_address=item.get("raw_address"),
        )
        for item in body.get("data", [])
    ]


def parse_transactions(body: dict[str, Any]) -> list[Transaction]:
    return [
        Transaction(
            stable_id=str(item["id"]),
            amount=int(item["amount"]),
            currency=str(item.get("currency") or "usd"),
            description=str(item.get("description") or ""),
            status="pending" if item.get("status") == "pending" else "posted",
            transacted_at=timestamp(item["transacted_at"]) or datetime.now(UTC),
            posted_at=timestamp(item.get("posted_at")),
        )
        for item in body.get("data", [])
    ]
