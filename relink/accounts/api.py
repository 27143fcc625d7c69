"""/v1/financial_connections/accounts."""

from __future__ import annotations

from typing import Annotated, Any

from relink.accounts.repository import AccountRepository
from relink.accounts.schemas import render_account, render_accounts
from relink.api.params import (
    CUSTOMER_ACCOUNT_REFUSED,
    EndpointParams,
    Id,
    ListParams,
    NoParams,
    Params,
    Refused,
    Strings,
)
from relink.api.rendering import render_list
from relink.api.router import ApiCall, ApiRouter
from relink.eligibility.service import eligible_for_hosted_relink, render_eligibility
from relink.kit.errors import ApiError
from relink.kit.pagination import paginate
from relink.lifecycle.refresh import change_subscriptions, request_refresh
from relink.lifecycle.service import Lifecycle
from relink.models import Account, ConnectionStatus, ConsentActor

router = ApiRouter()

REFRESH_FEATURES = ("balance", "inferred_balances", "ownership", "transactions")
SUBSCRIBE_FEATURES = ("balance", "inferred_balances", "transactions")


class AccountInactive(ApiError):
    code = "financial_connections_account_inactive"


class HolderFilter(Params):
    customer: Id = None
    account: Id = None
    customer_account: Annotated[None, Refused(CUSTOMER_ACCOUNT_REFUSED)] = None


class ListAccounts(ListParams):
    account_holder: HolderFilter | None = None
    session: Id = None


class RefreshParams(EndpointParams):
    features: Annotated[list[str], Strings(REFRESH_FEATURES)]


class SubscriptionParams(EndpointParams):
    features: Annotated[list[str], Strings(SUBSCRIBE_FEATURES)]


@router.get("/v1/financial_connections/accounts", ListAccounts)
def list_accounts(call: ApiCall[ListAccounts]) -> dict[str, Any]:
    cursor = call.params.cursor
    holder = call.params.account_holder
    customer = holder.customer if holder else None
    account = holder.account if holder else None
    session_id = call.params.session
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


@router.get("/v1/financial_connections/accounts/{id}", NoParams)
def retrieve_account(call: ApiCall[NoParams]) -> dict[str, Any]:
    account = AccountRepository(call.session, call.scope).get(call.path["id"])
    return render_account(call.session, call.scope, account)


@router.post("/v1/financial_connections/accounts/{id}/disconnect", NoParams)
def disconnect_account(call: ApiCall[NoParams]) -> dict[str, Any]:
    account = AccountRepository(call.session, call.scope).get(call.path["id"])
    Lifecycle(call.session, call.scope, call.event_context).disconnect(
        account, actor=ConsentActor.platform
    )
    return render_account(call.session, call.scope, account)


def _require_usable(account: Account) -> None:
    if account.status != ConnectionStatus.active:
        raise AccountInactive(
            f"The account {account.id} is {account.status}; it cannot be refreshed or "
            "subscribed until it is relinked.",
            param="account",
        )


@router.post("/v1/financial_connections/accounts/{id}/refresh", RefreshParams)
def refresh_account(call: ApiCall[RefreshParams]) -> dict[str, Any]:
    account = AccountRepository(call.session, call.scope).get(call.path["id"])
    _require_usable(account)
    request_refresh(call.session, call.scope, account, call.params.features)
    return render_account(call.session, call.scope, account)


def _subscription_change(call: ApiCall[SubscriptionParams], *, subscribe: bool) -> dict[str, Any]:
    account = AccountRepository(call.session, call.scope).get(call.path["id"])
    _require_usable(account)
    change_subscriptions(
        call.session, call.scope, account, call.params.features, subscribe=subscribe
    )
    return render_account(call.session, call.scope, account)


@router.post("/v1/financial_connections/accounts/{id}/subscribe", SubscriptionParams)
def subscribe_account(call: ApiCall[SubscriptionParams]) -> dict[str, Any]:
    return _subscription_change(call, subscribe=True)


@router.post("/v1/financial_connections/accounts/{id}/unsubscribe", SubscriptionParams)
def unsubscribe_account(call: ApiCall[SubscriptionParams]) -> dict[str, Any]:
    return _subscription_change(call, subscribe=False)


@router.get("/v1/financial_connections/accounts/{id}/relink_eligibility", NoParams)
def retrieve_relink_eligibility(call: ApiCall[NoParams]) -> dict[str, Any]:
    account = AccountRepository(call.session, call.scope).get(call.path["id"])
    return render_eligibility(
        eligible_for_hosted_relink(call.session, call.scope, account, call.scope.now())
    )
