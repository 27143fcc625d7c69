"""Wire rendering of Financial Connections accounts (batch-friendly: no N+1)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from relink.accounts.repository import AccountRepository
from relink.api.rendering import render_holder
from relink.institutions.repository import InstitutionRepository
from relink.kit.clock import to_unix
from relink.models import Account, AccountNumber, ConnectionStatus
from relink.tenancy import Scope


def render_status_details(
    status: str,
    inactive_action: str | None,
    inactive_cause: str | None,
    expected_deactivation_at: Any,
    expected_deactivation_cause: str | None,
) -> dict[str, Any]:
    if status == ConnectionStatus.inactive:
        return {
            "inactive": {
                "action": inactive_action or "none",
                "cause": inactive_cause or "unspecified",
            }
        }
    if status == ConnectionStatus.active and expected_deactivation_at is not None:
        return {
            "active": {
                "action": "relink_required",
                "cause": expected_deactivation_cause or "access_expired",
                "expected_deactivation_date": to_unix(expected_deactivation_at),
            }
        }
    return {}


def render_account_number(number: AccountNumber) -> dict[str, Any]:
    return {
        "expected_expiry_date": to_unix(number.expected_expiry_at),
        "identifier_type": number.identifier_type,
        "status": number.status,
        "supported_networks": number.supported_networks,
    }


def render_accounts(
    session: Session, scope: Scope, accounts: list[Account]
) -> list[dict[str, Any]]:
    institutions = InstitutionRepository(session, scope.livemode).by_ids(
        {account.institution_id for account in accounts}
    )
    numbers = AccountRepository(session, scope).account_numbers([a.id for a in accounts])
    rendered = []
    for account in accounts:
        institution = institutions.get(account.institution_id)
        rendered.append(
            {
                "id": account.id,
                "object": "financial_connections.account",
                "account_holder": render_holder(
                    account.holder_type, account.customer_id, account.connected_account_id
                ),
                "account_numbers": [render_account_number(n) for n in numbers.get(account.id, [])],
                "authorization": account.authorization_id,
                "balance": account.balance,
                "balance_refresh": account.balance_refresh,
                "category": account.category,
                "created": to_unix(account.created_at),
                "display_name": account.display_name,
                "inferred_balances_refresh": account.inferred_balances_refresh,
                "institution": account.institution_id,
                "institution_name": institution.name if institution else "",
                "last4": account.last4,
                "livemode": account.livemode,
                "ownership": account.ownership_id,
                "ownership_refresh": account.ownership_refresh,
                "permissions": account.permissions,
                "status": account.status,
                "status_details": render_status_details(
                    account.status,
                    account.inactive_action,
                    account.inactive_cause,
                    account.expected_deactivation_at,
                    account.expected_deactivation_cause,
                ),
                "subcategory": account.subcategory,
                "subscriptions": account.subscriptions,
                "supported_payment_method_types": account.supported_payment_method_types,
                "transaction_refresh": account.transaction_refresh,
            }
        )
    return rendered


def render_account(session: Session, scope: Scope, account: Account) -> dict[str, Any]:
    return render_accounts(session, scope, [account])[0]
