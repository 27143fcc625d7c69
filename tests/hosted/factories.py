"""Accounts that really exist at the sandbox bank, and hosted relink sessions for them.

The test helper (POST /v1/test_helpers/financial_connections/accounts) seals a real
grant from the sandbox bank; the bank username is the holder's id, lower-cased, so
signing in again as that user shares the same accounts (same stable ids).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import stripe
from sqlalchemy import select

from relink.accounts.filters import selected_accounts
from relink.bulk_requests.service import request_relinks
from relink.eligibility.rules import BROKEN_SINCE_EVER
from relink.kit import clock, ids
from relink.models import (
    Account,
    Authorization,
    ConnectionStatus,
    HostedFlow,
    InactiveCause,
    Platform,
    RelinkAction,
    Session,
)
from relink.platforms.service import NewPlatform
from relink.runtime import Runtime
from relink.sandbox_bank.data import accounts_for
from relink.sandbox_bank.institutions import INSTITUTIONS_BY_KEY
from relink.tenancy import load_platform_scope
from tests.factories import WireObject, create_customer, create_test_account, deactivate, raw, wire

SESSIONS = "/v1/financial_connections/sessions"


@dataclass
class RelinkCase:
    customer: stripe.Customer
    account: WireObject
    session: WireObject

    @property
    def url(self) -> str:
        return str(self.session["url"])

    @property
    def token(self) -> str:
        return self.url.rsplit("/", 1)[-1]

    @property
    def bank_username(self) -> str:
        return str(self.customer.id).lower()


def bank_account_ids(institution: str, username: str) -> dict[str, str]:
    """The sandbox bank's stable account ids of a user, by display name."""
    inst = INSTITUTIONS_BY_KEY[institution]
    return {a.display_name: a.id for a in accounts_for(inst, username)}


def broken_account(
    client: stripe.StripeClient,
    owner_email: str,
    *,
    institution: str = "bank_non_oauth",
    cause: str | None = "access_expired",
    tan_expires_at: dt.datetime | None = None,
    customer_name: str = "Ada Lovelace",
    preferred_locales: list[str] | None = None,
    subcategory: str = "checking",
) -> tuple[stripe.Customer, WireObject]:
    """A customer (emailable in test mode) with an account that needs a relink."""
    customer = create_customer(
        client,
        email=owner_email,
        name=customer_name,
        **({"preferred_locales": preferred_locales} if preferred_locales else {}),
    )
    params: dict[str, Any] = {"permissions": ["payment_method"], "subcategory": subcategory}
    if tan_expires_at is not None:
        params["account_numbers"] = {"expected_expiry_date": int(tan_expires_at.timestamp())}
    account = wire(
        create_test_account(
            client, customer=customer.id, institution=f"fcinst_{institution}", **params
        )
    )
    if cause is not None:
        account = deactivate(client, account.id, cause)
    return customer, account


def relink_session(
    client: stripe.StripeClient,
    account: WireObject,
    *,
    delivery_method: str = "url",
    with_account: bool = True,
    return_url: str | None = None,
) -> WireObject:
    options = {"authorization": account["authorization"]}
    if with_account:
        options["account"] = account.id
    hosted: dict[str, str] = {"delivery_method": delivery_method}
    if return_url is not None:
        hosted["return_url"] = return_url
    return raw(
        client,
        "post",
        SESSIONS,
        relink_options=options,
        permissions=["payment_method"],
        ui_mode="hosted",
        hosted=hosted,
    )


def relink_case(
    client: stripe.StripeClient,
    owner_email: str,
    *,
    delivery_method: str = "url",
    with_account: bool = True,
    return_url: str | None = None,
    **account: Any,
) -> RelinkCase:
    customer, broken = broken_account(client, owner_email, **account)
    session = relink_session(
        client,
        broken,
        delivery_method=delivery_method,
        with_account=with_account,
        return_url=return_url,
    )
    return RelinkCase(customer, broken, session)


def retrieve_session(client: stripe.StripeClient, session_id: str) -> WireObject:
    """A session as Relink answers it (``status``, ``url``, ``relink_result`` included)."""
    return wire(client.v1.financial_connections.sessions.retrieve(session_id))


def account_without_grant(
    runtime: Runtime, customer_id: str, platform_id: str, *, institution: str
) -> str:
    """An inactive account at an institution the test helper cannot reach (a bank that
    is down refuses grants), built directly; returns the account id."""
    now = clock.now()
    with runtime.database.unit_of_work() as db:
        authorization = Authorization(
            id=ids.new("fcauth"),
            platform_id=platform_id,
            livemode=False,
            institution_id=f"fcinst_{institution}",
            holder_type="customer",
            customer_id=customer_id,
            status=ConnectionStatus.inactive,
            inactive_action=RelinkAction.relink_required,
            inactive_cause=InactiveCause.access_expired,
            created_at=now,
            updated_at=now,
        )
        db.add(authorization)
        db.flush()
        account = Account(
            id=ids.new("fca"),
            platform_id=platform_id,
            livemode=False,
            authorization_id=authorization.id,
            institution_id=authorization.institution_id,
            holder_type="customer",
            customer_id=customer_id,
            bank_account_id="sbacct_unreachable",
            display_name="Checking",
            last4="4321",
            status=ConnectionStatus.inactive,
            inactive_action=RelinkAction.relink_required,
            inactive_cause=InactiveCause.access_expired,
            permissions=["payment_method"],
            relink_due_at=BROKEN_SINCE_EVER,
            created_at=now,
            updated_at=now,
        )
        db.add(account)
        return account.id


def hosted_flow(runtime: Runtime, session_id: str) -> HostedFlow | None:
    with runtime.database.read_only() as db:
        return db.get(HostedFlow, session_id)


def stored_session(runtime: Runtime, session_id: str) -> Session:
    with runtime.database.read_only() as db:
        found = db.get(Session, session_id)
        assert found is not None
        return found


def broken_accounts_of_one_holder(
    client: stripe.StripeClient, owner_email: str, **customer: Any
) -> tuple[stripe.Customer, list[WireObject]]:
    """One customer with three accounts that need a relink at two banks: checking and
    savings at Bank (Non-OAuth) (two authorizations) and checking at Test (Non-OAuth)."""
    holder, first = broken_account(client, owner_email, **customer)
    accounts = [first]
    for institution, subcategory in (("bank_non_oauth", "savings"), ("test_non_oauth", "checking")):
        created = create_test_account(
            client,
            customer=holder.id,
            institution=f"fcinst_{institution}",
            permissions=["payment_method"],
            subcategory=subcategory,
        )
        accounts.append(deactivate(client, created.id, "access_expired"))
    return holder, accounts


def request_in_bulk(
    runtime: Runtime, platform_id: str, account_ids: list[str], *, livemode: bool = False
) -> None:
    """The dashboard's "Request relink" for these accounts (one batch of the bulk request)."""
    with runtime.database.unit_of_work() as db:
        scope = load_platform_scope(db, platform_id, livemode)
        request_relinks(
            db, scope, runtime, selected_accounts(scope, account_ids), actor="user:operator"
        )


def bundled_sessions_of(runtime: Runtime, account_ids: list[str]) -> list[Session]:
    """The sessions a request made for these accounts, by account id."""
    with runtime.database.read_only() as db:
        return list(
            db.scalars(
                select(Session)
                .where(Session.relink_account_id.in_(account_ids))
                .order_by(Session.relink_account_id)
            )
        )


def set_support_contact(
    runtime: Runtime, platform: NewPlatform, email: str | None, url: str | None
) -> None:
    """The platform's support email and website, as its branding settings save them."""
    with runtime.database.unit_of_work() as db:
        row = db.get(Platform, platform.platform.id)
        assert row is not None
        row.support_email, row.website_url = email, url
