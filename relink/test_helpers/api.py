"""/v1/test_helpers/… (sandbox keys only)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from relink.accounts.repository import AccountRepository
from relink.accounts.schemas import render_account
from relink.api.params import (
    EndpointParams,
    Enum,
    Id,
    Integer,
    NoParams,
    Params,
    Strings,
    Text,
    UnixTime,
)
from relink.api.router import ApiCall, ApiRouter
from relink.authorizations.schemas import render_authorization
from relink.connectors.base import Health
from relink.hosted.scans import SCOPE_SCANS
from relink.institutions.repository import InstitutionRepository
from relink.institutions.schemas import render_institution
from relink.kit.clock import to_unix
from relink.kit.errors import ApiError, LivemodeMismatch
from relink.lifecycle.scans import advance_test_clock
from relink.lifecycle.service import Lifecycle
from relink.models import ConnectionStatus, InactiveCause, TanStatus
from relink.test_helpers.service import (
    CATEGORY_OF_SUBCATEGORY,
    NewTestAccount,
    create_test_account,
    play_outage,
    revoke_at_bank,
    update_account_numbers_at_bank,
)

router = ApiRouter()

PERMISSIONS = ("balances", "ownership", "payment_method", "transactions")
# The outage a test plays, as the institution's health (Stripe's institution status).
OUTAGE_HEALTH = {"down": Health.inactive, "degraded": Health.degraded, "active": Health.active}


def _sandbox_only(call: ApiCall[Any]) -> None:
    if call.scope.livemode:
        raise LivemodeMismatch(
            "Test helpers can only be used with a test mode secret key (sk_test_…)."
        )


class TestAccountHolder(Params):
    type: Annotated[str, Enum(("customer", "account"))]
    customer: Id = None
    account: Id = None


class TestAccountNumbers(Params):
    expected_expiry_date: Annotated[dt.datetime | None, UnixTime()] = None
    status: Annotated[str | None, Enum(tuple(TanStatus))] = None


class CreateTestAccount(EndpointParams):
    institution: Annotated[str, Text(255)]
    account_holder: TestAccountHolder
    permissions: Annotated[list[str] | None, Strings(PERMISSIONS)] = None
    subcategory: Annotated[str | None, Enum(tuple(CATEGORY_OF_SUBCATEGORY))] = None
    display_name: Annotated[str | None, Text(200)] = None
    last4: Annotated[
        str | None, Text(4, pattern=r"\d{4}", mismatch="last4 must be exactly 4 digits.")
    ] = None
    authorization: Id = None
    account_numbers: TestAccountNumbers | None = None


class Deactivate(EndpointParams):
    cause: Annotated[str | None, Enum(tuple(InactiveCause))] = None


class UpdateAccountNumbers(EndpointParams):
    expected_expiry_date: Annotated[dt.datetime | None, UnixTime(clearable=True)] = None
    status: Annotated[str | None, Enum(tuple(TanStatus))] = None


class UpdateExpectedDeactivation(EndpointParams):
    expected_deactivation_date: Annotated[dt.datetime | None, UnixTime(clearable=True)]


class PlayOutage(EndpointParams):
    status: Annotated[str, Enum(tuple(OUTAGE_HEALTH))]


class AdvanceClock(EndpointParams):
    seconds: Annotated[int, Integer(minimum=1, maximum=10 * 365 * 86400)]


def _tan_status(value: str | None) -> TanStatus | None:
    return TanStatus(value) if value else None


@router.post("/v1/test_helpers/financial_connections/accounts", CreateTestAccount)
def create_account(call: ApiCall[CreateTestAccount]) -> dict[str, Any]:
    _sandbox_only(call)
    params = call.params
    holder = params.account_holder
    numbers = params.account_numbers
    created = create_test_account(
        Lifecycle(call.session, call.scope, call.event_context),
        call.runtime,
        NewTestAccount(
            institution=params.institution,
            holder_type=holder.type,
            customer=holder.customer if holder.type == "customer" else None,
            account=holder.account if holder.type == "account" else None,
            permissions=params.permissions or ["payment_method"],
            subcategory=params.subcategory,
            display_name=params.display_name,
            last4=params.last4,
            authorization=params.authorization,
            tan_expected_expiry_at=numbers.expected_expiry_date if numbers else None,
            tan_status=_tan_status(numbers.status) if numbers else None,
        ),
    )
    return render_account(call.session, call.scope, created)


@router.post("/v1/test_helpers/financial_connections/accounts/{id}/deactivate", Deactivate)
def deactivate_account(call: ApiCall[Deactivate]) -> dict[str, Any]:
    _sandbox_only(call)
    cause = call.params.cause or InactiveCause.unspecified
    account = AccountRepository(call.session, call.scope).get(call.path["id"])
    if account.status == ConnectionStatus.disconnected:
        raise ApiError("A disconnected account cannot be deactivated.", param="id")
    Lifecycle(call.session, call.scope, call.event_context).deactivate(
        account, InactiveCause(cause)
    )
    return render_account(call.session, call.scope, account)


@router.post(
    "/v1/test_helpers/financial_connections/accounts/{id}/update_account_numbers",
    UpdateAccountNumbers,
)
def update_account_numbers(call: ApiCall[UpdateAccountNumbers]) -> dict[str, Any]:
    _sandbox_only(call)
    clear = call.params.cleared("expected_expiry_date")
    expiry = call.params.expected_expiry_date
    account = AccountRepository(call.session, call.scope).get(call.path["id"])
    lifecycle = Lifecycle(call.session, call.scope, call.event_context)
    status = _tan_status(call.params.status)
    update_account_numbers_at_bank(
        call.runtime, lifecycle, account, status=status, expected_expiry_at=expiry
    )
    lifecycle.update_account_numbers(
        account, expected_expiry_at=expiry, status=status, clear_expiry=clear
    )
    return render_account(call.session, call.scope, account)


@router.post(
    "/v1/test_helpers/financial_connections/accounts/{id}/update_expected_deactivation",
    UpdateExpectedDeactivation,
)
def update_expected_deactivation(call: ApiCall[UpdateExpectedDeactivation]) -> dict[str, Any]:
    _sandbox_only(call)
    expected = call.params.expected_deactivation_date
    account = AccountRepository(call.session, call.scope).get(call.path["id"])
    if account.status != ConnectionStatus.active:
        raise ApiError("Only an active account can have an expected deactivation date.", param="id")
    Lifecycle(call.session, call.scope, call.event_context).set_expected_deactivation(
        account, expected
    )
    return render_account(call.session, call.scope, account)


@router.post("/v1/test_helpers/financial_connections/authorizations/{id}/revoke", NoParams)
def revoke_authorization(call: ApiCall[NoParams]) -> dict[str, Any]:
    _sandbox_only(call)
    lifecycle = Lifecycle(call.session, call.scope, call.event_context)
    authorization = lifecycle.authorizations.get(call.path["id"])
    revoke_at_bank(call.runtime, lifecycle, authorization)
    return render_authorization(call.session, call.scope, authorization)


@router.post("/v1/test_helpers/financial_connections/institutions/{id}/outage", PlayOutage)
def play_institution_outage(call: ApiCall[PlayOutage]) -> dict[str, Any]:
    """Put a sandbox institution down, degraded or back up; its health follows at once."""
    _sandbox_only(call)
    institution = InstitutionRepository(call.session, livemode=False).get(call.path["id"])
    lifecycle = Lifecycle(call.session, call.scope, call.event_context)
    play_outage(call.runtime, lifecycle, institution, OUTAGE_HEALTH[call.params.status])
    return render_institution(institution)


@router.post("/v1/test_helpers/clock/advance", AdvanceClock)
def advance_clock(call: ApiCall[AdvanceClock]) -> dict[str, Any]:
    _sandbox_only(call)
    scope, result = advance_test_clock(
        call.session, call.scope, call.params.seconds, call.event_context, SCOPE_SCANS
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
