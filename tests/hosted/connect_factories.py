"""Link sessions (no relink_options) created with the stripe SDK, and their holders."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

import httpx
import stripe

from relink.authorizations.consent_links import consent_token, consent_url
from relink.kit import clock
from relink.models import Account, Authorization, HolderType
from relink.platforms.service import NewPlatform
from relink.runtime import Runtime
from relink.tenancy import Scope
from tests.factories import WireObject, create_customer, create_session
from tests.hosted.factories import bank_account_ids, retrieve_session
from tests.hosted.pages import HostedPages

RETURN_URL = "http://localhost/done"
# A consent page link in an email's text.
CONSENT_LINK = re.compile(r"https?://\S+/consent/[A-Za-z0-9_.-]+")


def link_session(
    client: stripe.StripeClient,
    customer: stripe.Customer | None = None,
    *,
    ui_mode: str = "hosted",
    return_url: str = RETURN_URL,
    **params: Any,
) -> WireObject:
    """A link session for a (new) customer, asking for payment_method and balances."""
    customer = customer or create_customer(client, name="Ada Lovelace")
    request: dict[str, Any] = {
        "account_holder": {"type": "customer", "customer": customer.id},
        "permissions": ["payment_method", "balances"],
        **params,
    }
    if ui_mode == "hosted":
        request |= {"ui_mode": "hosted", "hosted": {"return_url": return_url}}
    return create_session(client, **request)


def stored_authorization(runtime: Runtime, authorization_id: str) -> Authorization:
    with runtime.database.read_only() as db:
        found = db.get(Authorization, authorization_id)
        assert found is not None
        return found


def stored_account(runtime: Runtime, account_id: str) -> Account:
    with runtime.database.read_only() as db:
        found = db.get(Account, account_id)
        assert found is not None
        return found


@dataclass(frozen=True)
class Linked:
    """A hosted link session completed at a bank: the session (retrieved), the bank
    username used, and the link's address (the session's ``url`` is gone once done)."""

    session: Any
    username: str
    url: str


def link_at_oauth_bank(
    client: stripe.StripeClient,
    http: httpx.Client,
    *accounts: str,
    customer: stripe.Customer | None = None,
    **session: Any,
) -> Linked:
    """A hosted link session completed at Bank (OAuth) sharing ``accounts`` (display
    names) for ``customer`` (a new one by default)."""
    customer = customer or create_customer(client, name="Ada Lovelace")
    username = customer.id.lower()
    created = link_session(client, customer, **session)
    ids = bank_account_ids("bank_oauth", username)
    pages = HostedPages(http, created.url)
    pages.open()
    pages.through_bank(
        pages.pick_bank("fcinst_bank_oauth"), username=username, accounts=[ids[a] for a in accounts]
    )
    pages.choose_accounts(*(ids[a] for a in accounts))
    done = pages.post("consent")
    assert (done.status_code, done.headers["location"]) == (303, RETURN_URL)
    return Linked(retrieve_session(client, created.id), username, str(created.url))


def linked_at_oauth_bank(
    client: stripe.StripeClient,
    http: httpx.Client,
    *accounts: str,
    customer: stripe.Customer | None = None,
    **session: Any,
) -> tuple[Any, str]:
    """:func:`link_at_oauth_bank`; returns the session (retrieved) and the bank username."""
    linked = link_at_oauth_bank(client, http, *accounts, customer=customer, **session)
    return linked.session, linked.username


def holder_link(
    runtime: Runtime,
    platform: NewPlatform,
    customer_id: str,
    *,
    now: dt.datetime | None = None,
) -> str:
    """The holder's consent page address (signed and valid from ``now``)."""
    token = consent_token(
        runtime,
        Scope(platform.platform.id, False),
        HolderType.customer,
        customer_id,
        now=now or clock.now(),
    )
    return consent_url(runtime, token)
