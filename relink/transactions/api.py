"""/v1/financial_connections/transactions, /accounts/{id}/owners and
/accounts/{id}/inferred_balances."""

from __future__ import annotations

from typing import Annotated, Any

from sqlalchemy import select

from relink.accounts.repository import AccountRepository
from relink.api.params import ListParams, NoParams, Params, Text, TimeFilter, TimeRange
from relink.api.rendering import render_list
from relink.api.router import ApiCall, ApiRouter
from relink.kit.clock import to_unix
from relink.kit.errors import ResourceMissing
from relink.kit.pagination import paginate
from relink.models import AccountInferredBalance, AccountOwner, AccountTransaction
from relink.tenancy import ScopedRepository
from relink.transactions.ownership import OwnerRepository, render_owner

router = ApiRouter()


class InferredBalanceRepository(ScopedRepository[AccountInferredBalance]):
    model = AccountInferredBalance
    object_name = "financial_connections.account_inferred_balance"


class TransactionRepository(ScopedRepository[AccountTransaction]):
    model = AccountTransaction
    object_name = "financial_connections.transaction"


def render_transaction(transaction: AccountTransaction) -> dict[str, Any]:
    return {
        "id": transaction.id,
        "object": "financial_connections.transaction",
        "account": transaction.account_id,
        "amount": transaction.amount,
        "currency": transaction.currency,
        "description": transaction.description,
        "livemode": transaction.livemode,
        "status": transaction.status,
        "status_transitions": {
            "posted_at": to_unix(transaction.posted_at),
            "void_at": to_unix(transaction.void_at),
        },
        "transacted_at": to_unix(transaction.transacted_at),
        "transaction_refresh": transaction.transaction_refresh_id,
        "updated": to_unix(transaction.updated_at),
    }


class TransactionRefreshFilter(Params):
    after: Annotated[str, Text(255)]


class ListTransactions(ListParams):
    account: Annotated[str, Text(255)]
    transacted_at: Annotated[TimeRange, TimeFilter()] = TimeRange()
    transaction_refresh: TransactionRefreshFilter | None = None


class ListOwners(ListParams):
    ownership: Annotated[str, Text(255)]


@router.get("/v1/financial_connections/transactions", ListTransactions)
def list_transactions(call: ApiCall[ListTransactions]) -> dict[str, Any]:
    cursor = call.params.cursor
    account_id = call.params.account
    conditions = call.params.transacted_at.conditions(AccountTransaction.transacted_at)
    refresh = call.params.transaction_refresh
    after = refresh.after if refresh is not None else None
    AccountRepository(call.session, call.scope).get(account_id, param="account")
    transactions = TransactionRepository(call.session, call.scope)
    transactions.check_cursor(cursor)
    query = transactions.select().where(AccountTransaction.account_id == account_id, *conditions)
    if after is not None:
        query = query.where(AccountTransaction.transaction_refresh_id > after)
    page = paginate(call.session, query, AccountTransaction.id, cursor)
    return render_list(
        "/v1/financial_connections/transactions",
        [render_transaction(t) for t in page.items],
        page.has_more,
    )


@router.get("/v1/financial_connections/transactions/{id}", NoParams)
def retrieve_transaction(call: ApiCall[NoParams]) -> dict[str, Any]:
    return render_transaction(TransactionRepository(call.session, call.scope).get(call.path["id"]))


@router.get("/v1/financial_connections/accounts/{id}/owners", ListOwners)
def list_owners(call: ApiCall[ListOwners]) -> dict[str, Any]:
    cursor = call.params.cursor
    ownership = call.params.ownership
    account = AccountRepository(call.session, call.scope).get(call.path["id"])
    if account.ownership_id is None or ownership != account.ownership_id:
        exists = call.session.scalar(
            select(AccountOwner.id).where(
                AccountOwner.account_id == account.id, AccountOwner.ownership_id == ownership
            )
        )
        if exists is None:
            raise ResourceMissing(
                "financial_connections.account_ownership", ownership, param="ownership"
            )
    owners = OwnerRepository(call.session, call.scope)
    owners.check_cursor(cursor)
    query = owners.select().where(
        AccountOwner.account_id == account.id, AccountOwner.ownership_id == ownership
    )
    page = paginate(call.session, query, AccountOwner.id, cursor)
    return render_list(
        f"/v1/financial_connections/accounts/{account.id}/owners",
        [render_owner(o) for o in page.items],
        page.has_more,
    )


def render_inferred_balance(balance: AccountInferredBalance) -> dict[str, Any]:
    return {
        "id": balance.id,
        "object": "financial_connections.account_inferred_balance",
        "as_of": to_unix(balance.as_of),
        "current": balance.current,
    }


@router.get("/v1/financial_connections/accounts/{id}/inferred_balances", ListParams)
def list_inferred_balances(call: ApiCall[ListParams]) -> dict[str, Any]:
    """Newest day first (ids follow the days: a refresh writes them oldest first)."""
    cursor = call.params.cursor
    account = AccountRepository(call.session, call.scope).get(call.path["id"], param="account")
    balances = InferredBalanceRepository(call.session, call.scope)
    balances.check_cursor(cursor)
    query = balances.select().where(AccountInferredBalance.account_id == account.id)
    page = paginate(call.session, query, AccountInferredBalance.id, cursor)
    return render_list(
        f"/v1/financial_connections/accounts/{account.id}/inferred_balances",
        [render_inferred_balance(b) for b in page.items],
        page.has_more,
    )
