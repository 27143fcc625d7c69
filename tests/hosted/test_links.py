"""Secure links: expiry, "Email me a new link", and the throttle (spec 20-relink §3)."""

from __future__ import annotations

from typing import Any

import httpx
import stripe

from relink.hosted.links import (
    Holder,
    LinkAddress,
    LinkKind,
    _holder_of,
    address_of,
    resolve,
)
from relink.kit.ratelimit import SlidingWindowThrottle
from relink.models import ConnectedAccount, Customer, Session
from relink.platforms.service import NewPlatform
from relink.runtime import Runtime
from tests.factories import advance_clock, raw, timeline_kinds
from tests.hosted.factories import relink_case, retrieve_session, stored_session
from tests.hosted.pages import HostedPages, text_of

DAY = 86_400


def _sessions_of(client: stripe.StripeClient, account_id: str) -> list[Any]:
    listed = raw(
        client, "get", "/v1/financial_connections/sessions", relink_options={"account": account_id}
    )
    return list(listed["data"])


def test_link_unvisited_for_30_days_expires_as_cancelled_no_authorization(
    client: stripe.StripeClient, platform: NewPlatform, runtime: Runtime
) -> None:
    case = relink_case(client, platform.owner.email, delivery_method="email")
    advance_clock(client, 30 * DAY + 60)
    session = retrieve_session(client, case.session.id)
    assert session.status == "cancelled"
    assert session.status_details.cancelled.reason == "other"
    assert session.relink_result.failure_reason == "no_authorization"
    assert timeline_kinds(runtime, case.session.id)[-1] == "expired"


def test_a_visit_keeps_the_link_alive_for_30_more_days(
    client: stripe.StripeClient, platform: NewPlatform, http: httpx.Client
) -> None:
    case = relink_case(client, platform.owner.email)
    advance_clock(client, 20 * DAY)
    HostedPages(http, case.url).open()
    advance_clock(client, 20 * DAY)
    assert retrieve_session(client, case.session.id).status == "pending"
    assert "Reconnect your bank account" in text_of(HostedPages(http, case.url).open())


def test_expired_link_shows_the_expired_page_with_email_me_a_new_link(
    client: stripe.StripeClient, platform: NewPlatform, http: httpx.Client
) -> None:
    case = relink_case(client, platform.owner.email, delivery_method="email")
    advance_clock(client, 31 * DAY)
    page = text_of(HostedPages(http, case.url).open())
    assert "This link has expired" in page
    assert "Email me a new link" in page


def test_email_me_a_new_link_creates_an_email_session_with_the_same_options(
    client: stripe.StripeClient, platform: NewPlatform, http: httpx.Client
) -> None:
    case = relink_case(client, platform.owner.email, delivery_method="email")
    advance_clock(client, 31 * DAY)
    pages = HostedPages(http, case.url)
    pages.open()
    assert "Check your email" in text_of(pages.email_new_link())
    newest = _sessions_of(client, case.account.id)[0]
    assert newest["id"] != case.session.id
    assert (newest["status"], newest["hosted"]["delivery_method"]) == ("pending", "email")
    assert newest["relink_options"] == case.session["relink_options"]


def test_email_me_a_new_link_sends_at_most_three_a_day_and_always_answers_the_same(
    client: stripe.StripeClient, platform: NewPlatform, http: httpx.Client
) -> None:
    case = relink_case(client, platform.owner.email, delivery_method="email")
    advance_clock(client, 31 * DAY)
    pages = HostedPages(http, case.url)
    pages.open()
    answers = []
    for _ in range(4):
        answers.append(pages.email_new_link())
        newest = _sessions_of(client, case.account.id)[0]
        if newest["status"] == "pending":
            # The holder gives up on the new link, so the 48-hour rule lets another in.
            HostedPages(http, newest["url"]).give_up()
    assert len({(a.status_code, a.text) for a in answers}) == 1
    assert len(_sessions_of(client, case.account.id)) == 1 + 3
    # The old link keeps saying "expired", whether or not a new link was sent.
    assert "This link has expired" in text_of(pages.open())


def test_email_me_a_new_link_from_a_pending_link_sends_nothing(
    client: stripe.StripeClient, platform: NewPlatform, http: httpx.Client
) -> None:
    case = relink_case(client, platform.owner.email)
    pages = HostedPages(http, case.url)
    pages.open()
    assert "Check your email" in text_of(pages.email_new_link())
    assert [s["id"] for s in _sessions_of(client, case.account.id)] == [case.session.id]


def test_email_me_a_new_link_after_giving_up_sends_one(
    client: stripe.StripeClient, platform: NewPlatform, http: httpx.Client
) -> None:
    case = relink_case(client, platform.owner.email)
    pages = HostedPages(http, case.url)
    pages.open()
    assert "Email me a new link" in text_of(pages.give_up())
    pages.email_new_link()
    assert len(_sessions_of(client, case.account.id)) == 2


def test_throttle_refuses_hits_over_the_limit_within_the_window() -> None:
    now = [0.0]
    throttle = SlidingWindowThrottle(limit=2, window=10.0, clock=lambda: now[0])
    assert [throttle.hit("k") for _ in range(3)] == [True, True, False]


def test_throttle_allows_again_once_old_hits_leave_the_window() -> None:
    now = [0.0]
    throttle = SlidingWindowThrottle(limit=2, window=10.0, clock=lambda: now[0])
    throttle.hit("k")
    now[0] = 5.0
    throttle.hit("k")
    now[0] = 10.5
    assert throttle.hit("k") is True
    assert throttle.hit("k") is False


def test_throttle_counts_keys_separately() -> None:
    throttle = SlidingWindowThrottle(limit=1, window=10.0, clock=lambda: 0.0)
    assert (throttle.hit("a"), throttle.hit("b"), throttle.hit("a")) == (True, True, False)


# -- addresses and holders ----------------------------------------------------------------


def test_a_modal_session_is_addressed_by_its_client_secret(
    client: stripe.StripeClient, platform: NewPlatform, runtime: Runtime
) -> None:
    customer = raw(client, "post", "/v1/customers", email=platform.owner.email)
    created = raw(
        client,
        "post",
        "/v1/financial_connections/sessions",
        account_holder={"type": "customer", "customer": customer.id},
        permissions=["payment_method"],
    )
    with runtime.database.read_only() as db:
        session = db.get(Session, created.id)
        assert session is not None
        address = address_of(runtime, session)
        assert address == LinkAddress(LinkKind.modal, created.client_secret)
        found = resolve(db, address)
        assert found is not None and found.session.id == created.id
        # The same secret under another kind's path is not this link.
        assert resolve(db, LinkAddress(LinkKind.relink, created.client_secret)) is None


def test_malformed_addresses_resolve_to_nothing(runtime: Runtime) -> None:
    with runtime.database.read_only() as db:
        assert resolve(db, LinkAddress(LinkKind.modal, "fcsess_not_a_secret")) is None
        assert resolve(db, LinkAddress(LinkKind.relink, "short")) is None
        assert resolve(db, LinkAddress(LinkKind.connect, "x" * 43 + "!")) is None


def test_the_holder_is_the_customer_then_the_connected_account_then_nobody() -> None:
    customer = Customer(name="Ada", email="ada@example.com", preferred_locales=["de"])
    connected = ConnectedAccount(business_name="Ada Ltd", email="ltd@example.com")
    assert _holder_of(customer, connected) == Holder("Ada", "ada@example.com", ["de"])
    assert _holder_of(None, connected) == Holder("Ada Ltd", "ltd@example.com", [])
    assert _holder_of(None, None) == Holder(None, None, [])


# -- states and new links -----------------------------------------------------------------


def test_an_expired_link_says_expired_on_every_visit_and_keeps_its_expiry(
    client: stripe.StripeClient, platform: NewPlatform, http: httpx.Client, runtime: Runtime
) -> None:
    case = relink_case(client, platform.owner.email, delivery_method="email")
    advance_clock(client, 31 * DAY)
    assert "This link has expired" in text_of(HostedPages(http, case.url).open())
    advance_clock(client, 2 * 3600)  # past the visit-mark granularity
    assert "This link has expired" in text_of(HostedPages(http, case.url).open())
    # An outcome page writes no visit mark: the dates keep saying the link went stale.
    assert stored_session(runtime, case.session.id).link_last_visit_at is None


def test_email_me_a_new_link_for_a_whole_authorization_asks_for_the_whole_authorization(
    client: stripe.StripeClient, platform: NewPlatform, http: httpx.Client
) -> None:
    case = relink_case(client, platform.owner.email, delivery_method="email", with_account=False)
    advance_clock(client, 31 * DAY)
    pages = HostedPages(http, case.url)
    pages.open()
    assert "Check your email" in text_of(pages.email_new_link())
    listed = raw(
        client,
        "get",
        "/v1/financial_connections/sessions",
        relink_options={"authorization": case.account["authorization"]},
    )
    newest = listed["data"][0].to_dict()
    assert newest["id"] != case.session.id
    assert newest["relink_options"].get("account") is None


def test_email_me_a_new_link_for_a_holder_no_longer_reachable_sends_nothing_and_says_the_same(
    client: stripe.StripeClient, platform: NewPlatform, http: httpx.Client
) -> None:
    case = relink_case(client, platform.owner.email, delivery_method="email")
    advance_clock(client, 31 * DAY)
    raw(client, "post", f"/v1/customers/{case.customer.id}", email="")
    pages = HostedPages(http, case.url)
    pages.open()
    assert "Check your email" in text_of(pages.email_new_link())
    assert [found["id"] for found in _sessions_of(client, case.account.id)] == [case.session.id]
