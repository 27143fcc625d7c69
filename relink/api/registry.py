"""Every /v1 router, listed explicitly."""

from __future__ import annotations

from relink.accounts.api import router as accounts
from relink.api import expansions
from relink.api.router import ApiRouter
from relink.authorizations.api import router as authorizations
from relink.connect_accounts.api import router as connected_accounts
from relink.customers.api import router as customers
from relink.events.api import router as events
from relink.institutions.api import router as institutions
from relink.sessions.api import router as sessions
from relink.test_helpers.api import router as test_helpers
from relink.transactions.api import router as transactions
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
    test_helpers,
]

expansions.register()
