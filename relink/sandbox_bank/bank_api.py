"""Answers of the bearer-token bank API (accounts, balances, owners, transactions, TANs).

Wire shapes (times are unix seconds, money in minor units):

- account: `{id, object, display_name, category, subcategory, last4, routing_number,
  currency, payment_networks}`
- TAN: `{network, account_number, routing_number, status, expected_expiry_date}`
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from relink.sandbox_bank.data import (
    SandboxAccount,
    SandboxTan,
    accounts_for,
    tan_for,
    transactions_for,
)
from relink.sandbox_bank.errors import BankError, invalid_token
from relink.sandbox_bank.grants import DEACTIVATION_CAUSES, known_institution
from relink.sandbox_bank.institutions import TanBehaviour
from relink.sandbox_bank.models import Grant, TanOverride

TAN_STATUSES = ("pending", "transactable", "expired", "deactivated")


def _unix(value: datetime | None) -> int | None:
    return int(value.timestamp()) if value is not None else None


def shared_accounts(grant: Grant) -> list[SandboxAccount]:
    shared = set(grant.account_ids)
    inst = known_institution(grant.institution)
    return [a for a in accounts_for(inst, grant.username) if a.id in shared]


def account_json(account: SandboxAccount) -> dict[str, Any]:
    return {
        "id": account.id,
        "object": "account",
        "display_name": account.display_name,
        "category": account.category,
        "subcategory": account.subcategory,
        "last4": account.last4,
        "routing_number": account.routing_number,
        "currency": "usd",
        "payment_networks": [] if account.tan is TanBehaviour.no_ach else ["ach"],
    }


def list_accounts(grant: Grant) -> dict[str, Any]:
    return {
        "object": "list",
        "data": [
            account_json(a) for a in shared_accounts(grant) if a.id not in grant.closed_account_ids
        ],
    }


def shared_account(grant: Grant, account_id: str) -> SandboxAccount:
    if account_id in grant.closed_account_ids:
        raise BankError(410, "account_closed", "This account is closed.", reason="account_closed")
    if account_id in grant.unavailable_account_ids:
        raise BankError(
            403,
            "account_unavailable",
            "This account is temporarily unavailable.",
            reason="account_unavailable",
        )
    for account in shared_accounts(grant):
        if account.id == account_id:
            return account
    raise BankError(
        404, "account_not_found", "No such account is shared with you.", reason="account_not_found"
    )


def trip_first_refresh(grant: Grant) -> None:
    """Institutions that go inactive after linking break on the first data refresh."""
    if grant.deactivate_on_refresh:
        grant.deactivate_on_refresh = False
        grant.deactivated_cause = "access_expired"
        error = invalid_token("The consent has expired.", "consent_expired")
        error.commit = True
        raise error


def balances(grant: Grant, account_id: str, now: datetime) -> dict[str, Any]:
    account = shared_account(grant, account_id)
    trip_first_refresh(grant)
    pending_debits = sum(
        t.amount
        for t in transactions_for(account, now=now)
        if t.status == "pending" and t.amount < 0
    )
    current = account.balance_current
    return {
        "object": "balance",
        "account": account.id,
        "as_of": int(now.timestamp()),
        "type": account.category,
        "current": {"usd": current},
        "available": {"usd": current + pending_debits} if account.category == "cash" else None,
    }


def owners(grant: Grant, account_id: str) -> dict[str, Any]:
    account = shared_account(grant, account_id)
    trip_first_refresh(grant)
    return {
        "object": "list",
        "data": [
            {
                "name": account.owner_name,
                "email": account.owner_email,
                "phone": account.owner_phone,
                "raw_address": account.owner_address,
            }
        ],
    }


def transactions(
    grant: Grant, account_id: str, now: datetime, since: datetime | None
) -> dict[str, Any]:
    account = shared_account(grant, account_id)
    trip_first_refresh(grant)
    return {
        "object": "list",
        "data": [
            {
                "id": t.id,
                "amount": t.amount,
                "currency": "usd",
                "description": t.description,
                "status": t.status,
                "transacted_at": _unix(t.transacted_at),
                "posted_at": _unix(t.posted_at),
            }
            for t in transactions_for(account, now=now, since=since)
        ],
    }


def _tan(session: Session, grant: Grant, account: SandboxAccount, now: datetime) -> SandboxTan:
    tan = tan_for(
        account,
        grant_sequence=grant.sequence,
        authenticated_at=grant.authenticated_at,
        now=now,
    )
    override = session.get(TanOverride, (grant.id, account.id))
    if override is None or tan.number is None:
        return tan
    expiry = override.expected_expiry_date or tan.expected_expiry_date
    status = override.status
    if status is None:
        status = "expired" if expiry is not None and expiry <= now else "transactable"
    return SandboxTan(tan.number, tan.routing_number, status, expiry)


def payment_networks(
    session: Session, grant: Grant, account_id: str, now: datetime
) -> dict[str, Any]:
    account = shared_account(grant, account_id)
    tan = _tan(session, grant, account, now)
    data = []
    if tan.number is not None:
        data.append(
            {
                "network": "ach",
                "account_number": tan.number,
                "routing_number": tan.routing_number,
                "status": tan.status,
                "expected_expiry_date": _unix(tan.expected_expiry_date),
            }
        )
    return {"object": "list", "data": data}


def consent(grant: Grant) -> dict[str, Any]:
    return {
        "object": "consent",
        "institution": grant.institution,
        "authenticated_at": _unix(grant.authenticated_at),
        "expires_at": _unix(grant.expires_at),
        "accounts": list(grant.account_ids),
    }


# ------------------------------------------------------------------ test-helper control


def deactivate(grant: Grant, cause: str, account_id: str | None, now: datetime) -> None:
    """Make the bank answer as if `cause` happened (Relink's deactivate test helper)."""
    if cause not in DEACTIVATION_CAUSES:
        raise BankError(400, "invalid_request", f"cause must be one of {DEACTIVATION_CAUSES}.")
    if cause in ("account_closed", "account_unavailable"):
        if account_id is None or account_id not in grant.account_ids:
            raise BankError(400, "invalid_request", "account must be one the grant shares.")
        column = "closed_account_ids" if cause == "account_closed" else "unavailable_account_ids"
        setattr(grant, column, [*getattr(grant, column), account_id])
        return
    if cause == "access_denied":
        grant.revoked_at = now
        grant.revoked_by = "holder"
        return
    grant.deactivated_cause = cause


def update_tan(
    session: Session,
    grant: Grant,
    account_id: str,
    *,
    status: str | None,
    expected_expiry_date: datetime | None,
) -> None:
    if status is not None and status not in TAN_STATUSES:
        raise BankError(400, "invalid_request", f"status must be one of {TAN_STATUSES}.")
    account = shared_account(grant, account_id)
    override = session.get(TanOverride, (grant.id, account.id))
    if override is None:
        override = TanOverride(grant_id=grant.id, account_id=account.id)
        session.add(override)
    override.status = status
    if expected_expiry_date is not None:
        override.expected_expiry_date = expected_expiry_date
