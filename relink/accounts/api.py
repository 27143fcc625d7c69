"""/v1/financial_connections/accounts."""

from __future__ import annotations

from typing import Any

from relink.accounts.repository import AccountRepository
from relink.accounts.schemas import render_account, render_accounts
from relink.api.params import refuse_customer_account
from relink.api.rendering import render_list
from relink.api.router import ApiCall, ApiRouter
from relink.eligibility.service import eligible_for_hosted_relink, render_eligibility
from relink.kit.errors import ApiError
from relink.kit.pagination import paginate, read_cursor
from relink.lifecycle.refresh import change_subscriptions, request_refresh
from relink.lifecycle.service import Lifecycle
from relink.models import Account, ConnectionStatus

router = ApiRouter()

REFRESH_FEATURES = ("balance", "inferred_balances", "ownership", "transactions")
SUBSCRIBE_FEATURES = ("balance", "inferred_balances", "transactions")


class AccountInactive(ApiError):
    code = "financial_connections_account_inactive"


@router.get("/v1/financial_connections/accounts")
def list_accounts(call: ApiCall) -> dict[str, Any]:
    cursor = read_cursor(call.params)
    holder = call.params.nested("account_holder")
    customer = account = None
    if holder is not None:
        customer = holder.text("customer", max_length=255)
        account = holder.text("account", max_length=255)
        refuse_customer_account(holder)
    session_id = call.params.text("session", max_length=255)
    call.params.finish()
    repository = AccountRepository(call.session, call.scope)
    repository.check_cursor(cursor)
    query = repository.select()
    if customer is not None:
        query = query.where(Account.customer_id == customer)
    if account is not None:
        query = query.where(Account.connected_account_id == account)
    if session_id is not None:
        query = query.where(Account.session_id == session_id)
    page = paginate(call.session, query, Account.id, cursor)
    return render_list(
        "/v1/financial_connections/accounts",
        render_accounts(call.session, call.scope, page.items),
        page.has_more,
    )


@router.get("/v1/financial_connections/accounts/{id}")
def retrieve_account(call: ApiCall) -> dict[str, Any]:
    call.params.finish()
    account = AccountRepository(call.session, call.scope).get(call.path["id"])
    return render_account(call.session, call.scope, account)


@router.post("/v1/financial_connections/accounts/{id}/disconnect")
def disconnect_account(call: ApiCall) -> dict[str, Any]:
    call.params.finish()
    account = AccountRepository(call.session, call.scope).get(call.path["id"])
    Lifecycle(call.session, call.scope, call.event_context).disconnect(account)
    return render_account(call.session, call.scope, account)


def _require_usable(account: Account) -> None:
    if account.status != ConnectionStatus.active:
        raise AccountInactive(
            f"The account {account.id} is {account.status}; it cannot be refreshed or "
            "subscribed until it is relinked.",
            param="account",
        )


@router.post("/v1/financial_connections/accounts/{id}/refresh")
def refresh_account(call: ApiCall) -> dict[str, Any]:
    features = call.params.strings("features", allowed=REFRESH_FEATURES)
    if not features:
        call.params.text("features", required=True)
    call.params.finish()
    account = AccountRepository(call.session, call.scope).get(call.path["id"])
    _require_usable(account)
    request_refresh(call.session, call.scope, account, features or [])
    return render_account(call.session, call.scope, account)


def _subscription_change(call: ApiCall, *, subscribe: bool) -> dict[str, Any]:
    features = call.params.strings("features", allowed=SUBSCRIBE_FEATURES)
    if not features:
        call.params.text("features", required=True)
    call.params.finish()
    account = AccountRepository(call.session, call.scope).get(call.path["id"])
    _require_usable(account)
    change_subscriptions(call.session, call.scope, account, features or [], subscribe=subscribe)
    return render_account(call.session, call.scope, account)


@router.post("/v1/financial_connections/accounts/{id}/subscribe")
def subscribe_account(call: ApiCall) -> dict[str, Any]:
    return _subscription_change(call, subscribe=True)


@router.post("/v1/financial_connections/accounts/{id}/unsubscribe")
def unsubscribe_account(call: ApiCall) -> dict[str, Any]:
    return _subscription_change(call, subscribe=False)


@router.get("/v1/financial_connections/accounts/{id}/relink_eligibility")
def retrieve_relink_eligibility(call: ApiCall) -> dict[str, Any]:
    call.params.finish()
    account = AccountRepository(call.session, call.scope).get(call.path["id"])
    return render_eligibility(
        eligible_for_hosted_relink(call.session, call.scope, account, call.scope.now())
    )
