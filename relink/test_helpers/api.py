"""/v1/test_helpers/… (sandbox keys only)."""

from __future__ import annotations

from typing import Any

from relink.accounts.repository import AccountRepository
from relink.accounts.schemas import render_account
from relink.api.params import Params
from relink.api.router import ApiCall, ApiRouter
from relink.authorizations.schemas import render_authorization
from relink.hosted.scans import SCOPE_SCANS
from relink.kit.clock import to_unix
from relink.kit.errors import ApiError, LivemodeMismatch, ParameterInvalid
from relink.lifecycle.scans import advance_test_clock
from relink.lifecycle.service import Lifecycle
from relink.models import ConnectionStatus, InactiveCause, TanStatus
from relink.test_helpers.service import (
    CATEGORY_OF_SUBCATEGORY,
    NewTestAccount,
    create_test_account,
    revoke_at_bank,
    update_account_numbers_at_bank,
)

router = ApiRouter()

PERMISSIONS = ("balances", "ownership", "payment_method", "transactions")


def _sandbox_only(call: ApiCall) -> None:
    if call.scope.livemode:
        raise LivemodeMismatch(
            "Test helpers can only be used with a test mode secret key (sk_test_…)."
        )


def _date(params: Params, key: str) -> Any:
    return params.unix_time(key)


@router.post("/v1/test_helpers/financial_connections/accounts")
def create_account(call: ApiCall) -> dict[str, Any]:
    _sandbox_only(call)
    params = call.params
    institution = params.required_str("institution", max_length=255)
    holder = params.nested("account_holder", required=True)
    assert holder is not None
    holder_type = holder.enum("type", ("customer", "account"), required=True)
    customer = holder.text("customer", max_length=255)
    account = holder.text("account", max_length=255)
    permissions = params.strings("permissions", allowed=PERMISSIONS) or ["payment_method"]
    subcategory = params.enum("subcategory", tuple(CATEGORY_OF_SUBCATEGORY))
    display_name = params.text("display_name", max_length=200)
    last4 = params.text("last4", max_length=4)
    if last4 is not None and (len(last4) != 4 or not last4.isdigit()):
        raise ParameterInvalid("last4", "last4 must be exactly 4 digits.")
    authorization = params.text("authorization", max_length=255)
    numbers = params.nested("account_numbers")
    expiry = status = None
    if numbers is not None:
        expiry = _date(numbers, "expected_expiry_date")
        status_value = numbers.enum("status", tuple(TanStatus))
        status = TanStatus(status_value) if status_value else None
    params.finish()
    assert holder_type is not None
    created = create_test_account(
        Lifecycle(call.session, call.scope, call.event_context),
        call.runtime,
        NewTestAccount(
            institution=institution,
            holder_type=holder_type,
            customer=customer if holder_type == "customer" else None,
            account=account if holder_type == "account" else None,
            permissions=permissions,
            subcategory=subcategory,
            display_name=display_name,
            last4=last4,
            authorization=authorization,
            tan_expected_expiry_at=expiry,
            tan_status=status,
        ),
    )
    return render_account(call.session, call.scope, created)


@router.post("/v1/test_helpers/financial_connections/accounts/{id}/deactivate")
def deactivate_account(call: ApiCall) -> dict[str, Any]:
    _sandbox_only(call)
    cause = call.params.enum("cause", tuple(InactiveCause)) or InactiveCause.unspecified
    call.params.finish()
    account = AccountRepository(call.session, call.scope).get(call.path["id"])
    if account.status == ConnectionStatus.disconnected:
        raise ApiError("A disconnected account cannot be deactivated.", param="id")
    Lifecycle(call.session, call.scope, call.event_context).deactivate(
        account, InactiveCause(cause)
    )
    return render_account(call.session, call.scope, account)


@router.post("/v1/test_helpers/financial_connections/accounts/{id}/update_account_numbers")
def update_account_numbers(call: ApiCall) -> dict[str, Any]:
    _sandbox_only(call)
    clear = (
        call.params.has("expected_expiry_date") and call.params.raw("expected_expiry_date") == ""
    )
    expiry = _date(call.params, "expected_expiry_date")
    status_value = call.params.enum("status", tuple(TanStatus))
    call.params.finish()
    account = AccountRepository(call.session, call.scope).get(call.path["id"])
    lifecycle = Lifecycle(call.session, call.scope, call.event_context)
    status = TanStatus(status_value) if status_value else None
    update_account_numbers_at_bank(
        call.runtime, lifecycle, account, status=status, expected_expiry_at=expiry
    )
    lifecycle.update_account_numbers(
        account, expected_expiry_at=expiry, status=status, clear_expiry=clear
    )
    return render_account(call.session, call.scope, account)


@router.post("/v1/test_helpers/financial_connections/accounts/{id}/update_expected_deactivation")
def update_expected_deactivation(call: ApiCall) -> dict[str, Any]:
    _sandbox_only(call)
    clear = (
        call.params.has("expected_deactivation_date")
        and call.params.raw("expected_deactivation_date") == ""
    )
    expected = _date(call.params, "expected_deactivation_date")
    if expected is None and not clear:
        call.params.text("expected_deactivation_date", required=True)
    call.params.finish()
    account = AccountRepository(call.session, call.scope).get(call.path["id"])
    if account.status != ConnectionStatus.active:
        raise ApiError("Only an active account can have an expected deactivation date.", param="id")
    Lifecycle(call.session, call.scope, call.event_context).set_expected_deactivation(
        account, expected
    )
    return render_account(call.session, call.scope, account)


@router.post("/v1/test_helpers/financial_connections/authorizations/{id}/revoke")
def revoke_authorization(call: ApiCall) -> dict[str, Any]:
    _sandbox_only(call)
    call.params.finish()
    lifecycle = Lifecycle(call.session, call.scope, call.event_context)
    authorization = lifecycle.authorizations.get(call.path["id"])
    revoke_at_bank(call.runtime, lifecycle, authorization)
    return render_authorization(call.session, call.scope, authorization)


@router.post("/v1/test_helpers/clock/advance")
def advance_clock(call: ApiCall) -> dict[str, Any]:
    _sandbox_only(call)
    seconds = call.params.integer("seconds", required=True, minimum=1, maximum=10 * 365 * 86400)
    call.params.finish()
    assert seconds is not None
    scope, result = advance_test_clock(
        call.session, call.scope, seconds, call.event_context, SCOPE_SCANS
    )
    return {
        "object": "test_helpers.test_clock",
        "livemode": False,
        "frozen_time": to_unix(scope.now()),
        "offset_seconds": scope.clock_offset_seconds,
        "scans": {
            "account_numbers_expired": result.tans_expired,
            "upcoming_account_number_expiry": result.expiry_warnings,
            "accounts_deactivated": result.deactivations,
            "upcoming_deactivation": result.deactivation_warnings,
        },
    }
