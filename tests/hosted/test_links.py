"""Secure links: expiry, "Email me a new link", and the throttle (spec 20-relink §3)."""

from __future__ import annotations

from typing import Any

import httpx
import stripe

from relink.kit.ratelimit import SlidingWindowThrottle
from relink.platforms.service import NewPlatform
from relink.runtime import Runtime
from tests.factories import raw
from tests.hosted.factories import relink_case, retrieve_session, timeline_kinds
from tests.hosted.pages import HostedPages, text_of

DAY = 86_400


def _advance(client: stripe.StripeClient, seconds: int) -> Any:
    return raw(client, "post", "/v1/test_helpers/clock/advance", seconds=seconds)


def _sessions_of(client: stripe.StripeClient, account_id: str) -> list[Any]:
    listed = raw(
        client, "get", "/v1/financial_connections/sessions", relink_options={"account": account_id}
    )
    return list(listed["data"])


def test_link_unvisited_for_30_days_expires_as_cancelled_no_authorization(
    client: stripe.StripeClient, platform: NewPlatform, runtime: Runtime
) -> None:
    case = relink_case(client, platform.owner.email, delivery_method="email")
    _advance(client, 30 * DAY + 60)
    session = retrieve_session(client, case.session.id)
    assert session.status == "cancelled"
    assert session.status_details.cancelled.reason == "other"
    assert session.relink_result.failure_reason == "no_authorization"
    assert timeline_kinds(runtime, case.session.id)[-1] == "expired"


def test_a_visit_keeps_the_link_alive_for_30_more_days(
    client: stripe.StripeClient, platform: NewPlatform, http: httpx.Client
) -> None:
    case = relink_case(client, platform.owner.email)
    _advance(client, 20 * DAY)
    HostedPages(http, case.url).open()
    _advance(client, 20 * DAY)
    assert retrieve_session(client, case.session.id).status == "pending"
    assert "Reconnect your bank account" in text_of(HostedPages(http, case.url).open())


def test_expired_link_shows_the_expired_page_with_email_me_a_new_link(
    client: stripe.StripeClient, platform: NewPlatform, http: httpx.Client
) -> None:
    case = relink_case(client, platform.owner.email, delivery_method="email")
    _advance(client, 31 * DAY)
    page = text_of(HostedPages(http, case.url).open())
    assert "This link has expired" in page
    assert "Email me a new link" in page


def test_email_me_a_new_link_creates_an_email_session_with_the_same_options(
    client: stripe.StripeClient, platform: NewPlatform, http: httpx.Client
) -> None:
    case = relink_case(client, platform.owner.email, delivery_method="email")
    _advance(client, 31 * DAY)
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
    _advance(client, 31 * DAY)
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
