"""Creating sandbox accounts as if a link had just completed."""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass

from relink.accounts.repository import AccountRepository
from relink.authorizations.repository import AuthorizationRepository
from relink.connect_accounts.repository import ConnectedAccountRepository
from relink.customers.repository import CustomerRepository
from relink.institutions.repository import InstitutionRepository
from relink.kit import ids
from relink.kit.errors import ApiError
from relink.lifecycle.service import Lifecycle
from relink.models import Account, AccountNumber, Authorization, ConnectionStatus, TanStatus

CATEGORY_OF_SUBCATEGORY = {
    "checking": "cash",
    "savings": "cash",
    "credit_card": "credit",
    "line_of_credit": "credit",
    "mortgage": "credit",
    "other": "other",
}


@dataclass
class NewTestAccount:
    institution: str
    holder_type: str
    customer: str | None
    account: str | None
    permissions: list[str]
    subcategory: str
    display_name: str | None
    last4: str | None
    authorization: str | None
    tan_expected_expiry_at: dt.datetime | None
    tan_status: TanStatus | None


def create_test_account(lifecycle: Lifecycle, request: NewTestAccount) -> Account:
    session, scope = lifecycle.session, lifecycle.scope
    now = scope.now()
    institution = InstitutionRepository(session, scope.livemode).get(
        request.institution, param="institution"
    )
    if request.holder_type == "customer":
        if request.customer is None:
            raise ApiError(
                "account_holder[customer] is required when type is customer.",
                param="account_holder[customer]",
                code="parameter_missing",
            )
        CustomerRepository(session, scope).get(request.customer, param="account_holder[customer]")
    else:
        if request.account is None:
            raise ApiError(
                "account_holder[account] is required when type is account.",
                param="account_holder[account]",
                code="parameter_missing",
            )
        ConnectedAccountRepository(session, scope).get(
            request.account, param="account_holder[account]"
        )

    if request.authorization is not None:
        authorization = AuthorizationRepository(session, scope).get(
            request.authorization, param="authorization"
        )
        if (
            authorization.institution_id != institution.id
            or authorization.customer_id != request.customer
            or authorization.connected_account_id != request.account
        ):
            raise ApiError(
                "The authorization belongs to another institution or account holder.",
                param="authorization",
            )
        if authorization.status == ConnectionStatus.disconnected:
            raise ApiError("The authorization is disconnected.", param="authorization")
    else:
        authorization = Authorization(
            id=ids.new("fcauth"),
            institution_id=institution.id,
            holder_type=request.holder_type,
            customer_id=request.customer,
            connected_account_id=request.account,
            status=ConnectionStatus.active,
            authenticated_at=now,
            created_at=now,
            updated_at=now,
        )
        AuthorizationRepository(session, scope).add(authorization)

    account = Account(
        id=ids.new("fca"),
        authorization_id=authorization.id,
        institution_id=institution.id,
        holder_type=request.holder_type,
        customer_id=request.customer,
        connected_account_id=request.account,
        bank_account_id="testhelper_" + secrets.token_hex(8),
        display_name=request.display_name or request.subcategory.replace("_", " ").title(),
        last4=request.last4 or f"{secrets.randbelow(10_000):04d}",
        category=CATEGORY_OF_SUBCATEGORY[request.subcategory],
        subcategory=request.subcategory,
        status=authorization.status,
        inactive_action=authorization.inactive_action,
        inactive_cause=authorization.inactive_cause,
        permissions=request.permissions,
        supported_payment_method_types=["us_bank_account"]
        if "payment_method" in request.permissions
        else [],
        created_at=now,
        updated_at=now,
    )
    AccountRepository(session, scope).add(account)
    session.flush()
    if request.tan_expected_expiry_at is not None or request.tan_status is not None:
        session.add(
            AccountNumber(
                id=ids.new("fcanum"),
                platform_id=scope.platform_id,
                livemode=scope.livemode,
                account_id=account.id,
                identifier_type="tokenized_account_number",
                status=request.tan_status or TanStatus.transactable,
                expected_expiry_at=request.tan_expected_expiry_at,
                supported_networks=["ach"],
                number_last4=account.last4,
                created_at=now,
            )
        )
        session.flush()
    lifecycle.refresh_relink_due(account)
    lifecycle.emit_account_event("created", account)
    return account
