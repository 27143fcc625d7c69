"""Creating sandbox accounts as if a link had just completed — for real, at the sandbox bank.

The sandbox bank issues a grant for the holder (as if they had authenticated), so
refresh, revoke and relink work on a test-helper account exactly as on a linked one.
The bank's data is deterministic per (institution, username); the username is derived
from the account holder's id.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from relink.accounts.repository import AccountRepository
from relink.authorizations.consent import grant_detail, record_consent
from relink.authorizations.repository import AuthorizationRepository
from relink.connect_accounts.repository import ConnectedAccountRepository
from relink.connectors.base import (
    ConnectorError,
    Grant,
    Health,
    InstitutionDown,
    SandboxControls,
    Tan,
)
from relink.connectors.base import TanStatus as BankTanStatus
from relink.customers.repository import CustomerRepository
from relink.institutions.connectors import connector_for
from relink.institutions.health import record_health
from relink.institutions.repository import InstitutionRepository
from relink.kit import clock, ids
from relink.kit.errors import ApiError
from relink.lifecycle.grants import open_grant, store_grant
from relink.lifecycle.service import Lifecycle
from relink.models import (
    Account,
    Authorization,
    ConnectionStatus,
    ConsentActor,
    ConsentKind,
    EventType,
    Institution,
    TanStatus,
)
from relink.runtime import Runtime
from relink.sandbox_bank.data import SandboxAccount, accounts_for
from relink.sandbox_bank.institutions import INSTITUTIONS_BY_KEY

CATEGORY_OF_SUBCATEGORY = {
    "checking": "cash",
    "savings": "cash",
    "credit_card": "credit",
    "line_of_credit": "credit",
    "mortgage": "credit",
    "other": "other",
}

# Relink's deactivation causes as the sandbox bank's control endpoint names them.
BANK_CAUSES = {
    "access_denied": "access_denied",
    "access_expired": "access_expired",
    "account_closed": "account_closed",
    "account_unavailable": "account_unavailable",
    "institution_requirement": "institution_requirement",
    "unspecified": "access_expired",
}


@dataclass
class NewTestAccount:
    institution: str
    holder_type: str
    customer: str | None
    account: str | None
    permissions: list[str]
    subcategory: str | None
    display_name: str | None
    last4: str | None
    authorization: str | None
    tan_expected_expiry_at: dt.datetime | None
    tan_status: TanStatus | None


class SandboxUnavailable(ApiError):
    status = 503
    type = "api_error"
    code = "institution_unavailable"


def sandbox_connector(
    runtime: Runtime, lifecycle: Lifecycle, institution: Institution, *, param: str = "institution"
) -> SandboxControls:
    controls = connector_for(runtime, institution, lifecycle.scope).sandbox_controls()
    if controls is None:
        raise ApiError("Test helpers only work with sandbox institutions.", param=param)
    return controls


def _bank_username(holder_id: str) -> str:
    return holder_id.lower()


def _pick_bank_account(
    institution: Institution, username: str, subcategory: str | None, taken: set[str]
) -> SandboxAccount:
    held = accounts_for(INSTITUTIONS_BY_KEY[institution.connector_key], username)
    free = [a for a in held if a.id not in taken]
    if subcategory is not None:
        free = [a for a in free if a.subcategory == subcategory]
    if not free:
        wanted = f" {subcategory}" if subcategory else ""
        raise ApiError(
            f"The sandbox bank has no further{wanted} account for this holder at "
            f"{institution.name}.",
            param="subcategory" if subcategory else "authorization",
        )
    return free[0]


def _validate_holder(lifecycle: Lifecycle, request: NewTestAccount) -> str:
    session, scope = lifecycle.session, lifecycle.scope
    if request.holder_type == "customer":
        if request.customer is None:
            raise ApiError(
                "account_holder[customer] is required when type is customer.",
                param="account_holder[customer]",
                code="parameter_missing",
            )
        CustomerRepository(session, scope).get(request.customer, param="account_holder[customer]")
        return request.customer
    if request.account is None:
        raise ApiError(
            "account_holder[account] is required when type is account.",
            param="account_holder[account]",
            code="parameter_missing",
        )
    ConnectedAccountRepository(session, scope).get(request.account, param="account_holder[account]")
    return request.account


def create_test_account(lifecycle: Lifecycle, runtime: Runtime, request: NewTestAccount) -> Account:
    session, scope = lifecycle.session, lifecycle.scope
    now = scope.now()
    institution = InstitutionRepository(session, scope.livemode).get(
        request.institution, param="institution"
    )
    if institution.connector != "sandbox":
        raise ApiError("Test helpers only work with sandbox institutions.", param="institution")
    holder_id = _validate_holder(lifecycle, request)
    connector = sandbox_connector(runtime, lifecycle, institution)
    username = _bank_username(holder_id)

    taken: set[str] = set()
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
        taken = {a.bank_account_id for a in lifecycle.accounts.of_authorization(authorization.id)}
        grant = open_grant(runtime, authorization)
    else:
        try:
            # The grant covers every account the holder has at the bank, as if they had
            # shared them all; Relink links the ones asked for.
            grant = connector.create_test_grant(username=username)
        except ConnectorError as error:
            raise SandboxUnavailable(f"The sandbox bank refused the grant: {error}") from None
        authorization = Authorization(
            id=ids.new("fcauth"),
            institution_id=institution.id,
            holder_type=request.holder_type,
            customer_id=request.customer,
            connected_account_id=request.account,
            status=ConnectionStatus.active,
            bank_user=username,
            authenticated_at=now,
            created_at=now,
            updated_at=now,
        )
        store_grant(runtime, authorization, grant)
        AuthorizationRepository(session, scope).add(authorization)
        # No relationship() links the models, so the unit of work does not know the
        # account's row depends on this one: insert it first.
        session.flush()

    bank_account = _pick_bank_account(institution, username, request.subcategory, taken)
    subcategory = request.subcategory or bank_account.subcategory
    account = Account(
        id=ids.new("fca"),
        authorization_id=authorization.id,
        institution_id=institution.id,
        holder_type=request.holder_type,
        customer_id=request.customer,
        connected_account_id=request.account,
        bank_account_id=bank_account.id,
        display_name=request.display_name or bank_account.display_name,
        last4=request.last4 or bank_account.last4,
        category=CATEGORY_OF_SUBCATEGORY.get(subcategory, bank_account.category),
        subcategory=subcategory,
        status=authorization.status,
        inactive_action=authorization.inactive_action,
        inactive_cause=authorization.inactive_cause,
        permissions=request.permissions,
        supported_payment_method_types=(
            ["us_bank_account"] if "payment_method" in request.permissions else []
        ),
        created_at=now,
        updated_at=now,
    )
    AccountRepository(session, scope).add(account)
    session.flush()

    for tan in _bank_tans(connector, grant, account, request):
        lifecycle.add_account_number(account, tan)
    if grant.rotated:
        store_grant(runtime, authorization, grant)
    lifecycle.refresh_relink_due(account)
    if request.authorization is None:
        record_consent(
            session,
            scope,
            authorization,
            ConsentKind.granted,
            ConsentActor.platform,
            grant_detail(authorization, [account], request.permissions),
            at=now,
        )
    lifecycle.emit_account_event(EventType.account_created, account)
    return account


def _bank_tans(
    connector: SandboxControls, grant: Grant, account: Account, request: NewTestAccount
) -> list[Tan]:
    """The account numbers the bank reports, after applying the requested TAN state."""
    wants_tan = request.tan_expected_expiry_at is not None or request.tan_status is not None
    try:
        if wants_tan:
            connector.update_test_account_numbers(
                grant,
                account.bank_account_id,
                status=request.tan_status.value if request.tan_status else None,
                expected_expiry_date=request.tan_expected_expiry_at,
            )
        tans = [t for t in connector.account_numbers(grant, account.bank_account_id) if t.number]
    except InstitutionDown:
        tans = []
    if wants_tan and not tans:
        # The bank is down or the account has no ACH number: record what was asked.
        status = request.tan_status or TanStatus.transactable
        tans = [
            Tan(
                number="",
                routing_number="",
                status=BankTanStatus(status.value),
                expected_expiry_date=request.tan_expected_expiry_at,
            )
        ]
    return tans


def _bank_side(
    runtime: Runtime, lifecycle: Lifecycle, authorization: Authorization
) -> tuple[SandboxControls, Grant] | None:
    """The sandbox connector and grant behind an authorization (None if it has no grant)."""
    if authorization.grant_sealed is None:
        return None
    institution = InstitutionRepository(lifecycle.session, lifecycle.scope.livemode).get(
        authorization.institution_id
    )
    return sandbox_connector(runtime, lifecycle, institution), open_grant(runtime, authorization)


def deactivate_at_bank(
    runtime: Runtime, lifecycle: Lifecycle, account: Account, cause: str
) -> None:
    """Make the bank answer as if ``cause`` happened, so a refresh or relink sees it too."""
    authorization = lifecycle.authorizations.get(account.authorization_id)
    bank = _bank_side(runtime, lifecycle, authorization)
    if bank is None:
        return
    connector, grant = bank
    per_account = cause in ("account_closed", "account_unavailable")
    try:
        connector.deactivate_test_grant(
            grant,
            BANK_CAUSES[cause],
            account_stable_id=account.bank_account_id if per_account else None,
        )
    except ConnectorError as error:
        raise SandboxUnavailable(f"The sandbox bank did not take the change: {error}") from None


def update_account_numbers_at_bank(
    runtime: Runtime,
    lifecycle: Lifecycle,
    account: Account,
    *,
    status: TanStatus | None,
    expected_expiry_at: dt.datetime | None,
) -> None:
    authorization = lifecycle.authorizations.get(account.authorization_id)
    bank = _bank_side(runtime, lifecycle, authorization)
    if bank is None:
        return
    connector, grant = bank
    try:
        connector.update_test_account_numbers(
            grant,
            account.bank_account_id,
            status=status.value if status else None,
            expected_expiry_date=expected_expiry_at,
        )
    except ConnectorError as error:
        raise SandboxUnavailable(f"The sandbox bank did not take the change: {error}") from None


def revoke_at_bank(runtime: Runtime, lifecycle: Lifecycle, authorization: Authorization) -> None:
    """The holder revokes the app's access at the bank; Relink learns it on the next refresh."""
    bank = _bank_side(runtime, lifecycle, authorization)
    if bank is None:
        raise ApiError("This authorization has no grant at the sandbox bank.", param="id")
    connector, grant = bank
    try:
        connector.deactivate_test_grant(grant, "access_denied")
    except ConnectorError as error:
        raise SandboxUnavailable(f"The sandbox bank did not take the change: {error}") from None


def play_outage(
    runtime: Runtime, lifecycle: Lifecycle, institution: Institution, health: Health
) -> None:
    """Put a sandbox institution down, degraded or back up at the bank, then run its
    health check at once, so Relink's health follows now rather than within minutes."""
    controls = sandbox_connector(runtime, lifecycle, institution, param="id")
    try:
        controls.set_test_outage(health)
    except ConnectorError as error:
        raise SandboxUnavailable(f"The sandbox bank did not take the change: {error}") from None
    record_health(lifecycle.session, institution, controls.health().value, clock.now())
