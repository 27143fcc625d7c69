"""The /v1 surface, listed explicitly: every router and every ``expand[]`` fetcher.

Only :func:`relink.app.create_app` imports this module (the composition root of the web
side); nothing here registers itself by being imported.
"""

from __future__ import annotations

from typing import Any

from relink.accounts.api import router as accounts
from relink.accounts.repository import AccountRepository
from relink.accounts.schemas import render_account
from relink.api.router import ApiCall, ApiRouter, Fetcher
from relink.authorizations.api import router as authorizations
from relink.authorizations.repository import AuthorizationRepository
from relink.authorizations.schemas import render_authorization
from relink.automatic_relink.api import router as relink_policy
from relink.connect_accounts.api import router as connected_accounts
from relink.connect_accounts.repository import ConnectedAccountRepository
from relink.connect_accounts.schemas import render_connected_account
from relink.customers.api import router as customers
from relink.customers.repository import CustomerRepository
from relink.customers.schemas import render_customer
from relink.events.api import router as events
from relink.institutions.api import router as institutions
from relink.institutions.repository import InstitutionRepository
from relink.institutions.schemas import render_institution
from relink.sessions.api import router as sessions
from relink.test_helpers.api import router as test_helpers
from relink.transactions.api import router as transactions
from relink.transactions.ownership import OwnerRepository, render_ownership
from relink.webhooks.api import router as webhook_endpoints

API_ROUTERS: list[ApiRouter] = [
    customers,
    connected_accounts,
    institutions,
    accounts,
    authorizations,
    sessions,
    transactions,
    events,
    webhook_endpoints,
    relink_policy,
    test_helpers,
]


def _customer(call: ApiCall[Any], object_id: str) -> dict[str, Any] | None:
    found = CustomerRepository(call.session, call.scope).find(object_id)
    return render_customer(found) if found else None


def _connected_account(call: ApiCall[Any], object_id: str) -> dict[str, Any] | None:
    found = ConnectedAccountRepository(call.session, call.scope).find(object_id)
    return render_connected_account(found) if found else None


def _institution(call: ApiCall[Any], object_id: str) -> dict[str, Any] | None:
    found = InstitutionRepository(call.session, call.scope.livemode).find(object_id)
    return render_institution(found) if found else None


def _authorization(call: ApiCall[Any], object_id: str) -> dict[str, Any] | None:
    found = AuthorizationRepository(call.session, call.scope).find(object_id)
    return render_authorization(call.session, call.scope, found) if found else None


def _account(call: ApiCall[Any], object_id: str) -> dict[str, Any] | None:
    found = AccountRepository(call.session, call.scope).find(object_id)
    return render_account(call.session, call.scope, found) if found else None


def _ownership(call: ApiCall[Any], object_id: str) -> dict[str, Any] | None:
    return render_ownership(OwnerRepository(call.session, call.scope), object_id)


# Which function renders an id for ``expand[]``, by id prefix.
EXPANSIONS: dict[str, Fetcher] = {
    "cus": _customer,
    "acct": _connected_account,
    "fcinst": _institution,
    "fcauth": _authorization,
    "fca": _account,
    "fcaowns": _ownership,
}
