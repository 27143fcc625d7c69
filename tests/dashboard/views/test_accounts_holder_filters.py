"""Accounts → "Holder has no email address" and a search by email domain: on the list,
in the CSV export and in a bulk Request relink of "all matching", the same accounts."""

from __future__ import annotations

import csv
import io

import httpx
import stripe
from sqlalchemy import select

from relink.models import Session
from relink.platforms.service import NewPlatform
from tests.conftest import RunningServer
from tests.dashboard.factories import broken_account, page_csrf
from tests.factories import create_customer, create_test_account, deactivate, drain_outbox


def _listed(owner: httpx.Client, params: dict[str, str]) -> set[str]:
    response = owner.get("/accounts", params=params)
    assert response.status_code == 200, response.text
    return {part.split('"', 1)[0] for part in response.text.split('name="account" value="')[1:]}


def _exported(owner: httpx.Client, params: dict[str, str]) -> set[str]:
    response = owner.get("/accounts/export.csv", params=params)
    assert response.status_code == 200, response.text
    return {row["id"] for row in csv.DictReader(io.StringIO(response.text))}


def _no_email_account(client: stripe.StripeClient) -> str:
    customer = create_customer(client, name="No Address")
    account = create_test_account(client, customer=customer.id)
    deactivate(client, account.id, "access_expired")
    return account.id


def test_the_without_email_filter_lists_exports_and_selects_the_same_accounts(
    server: RunningServer, owner: httpx.Client, client: stripe.StripeClient, platform: NewPlatform
) -> None:
    unreachable = _no_email_account(client)
    broken_account(client, platform.owner.email)
    params = {"without_email": "1", "status": "inactive"}

    assert _listed(owner, params) == _exported(owner, params) == {unreachable}
    page = owner.get("/accounts", params=params).text
    assert 'name="without_email" value="1" checked' in page
    assert '<input type="hidden" name="without_email" value="1">' in page  # the bulk form
    confirm = owner.get("/accounts/request-relink", params={**params, "all_matching": "1"})
    assert "1 account selected." in confirm.text
    assert "0 emails will go out." in confirm.text
    assert "reason=missing_email" in confirm.text


def test_a_domain_search_lists_exports_and_requests_relink_for_the_same_accounts(
    server: RunningServer, owner: httpx.Client, client: stripe.StripeClient, platform: NewPlatform
) -> None:
    domain = platform.owner.email.partition("@")[2]
    ours = {broken_account(client, platform.owner.email).id for _ in range(2)}
    elsewhere = broken_account(client, "someone@elsewhere.test").id
    _no_email_account(client)

    for typed in (f"@{domain}", domain.upper()):
        params = {"search": typed}
        assert _listed(owner, params) == _exported(owner, params) == ours, typed
    assert _listed(owner, {"search": "@elsewhere.test"}) == {elsewhere}

    selection = {"search": f"@{domain}", "all_matching": "1"}
    confirm = owner.get("/accounts/request-relink", params=selection)
    assert "2 accounts selected." in confirm.text
    started = owner.post(
        "/accounts/request-relink",
        data={**selection, "csrf_token": page_csrf(owner), "submission": "domain-search-0001"},
    )
    assert started.status_code == 303
    drain_outbox(server.runtime)
    with server.runtime.database.read_only() as db:
        requested = set(
            db.scalars(
                select(Session.relink_account_id).where(
                    Session.relink_account_id.in_([*ours, elsewhere])
                )
            )
        )
    assert requested == ours
