"""The hosted relink flow's outcomes (spec 20-relink §4 table), through HTTP, checked on
the wire with the stripe SDK."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import httpx
import stripe

from relink.hosted.links import MAX_CREDENTIAL_FAILURES
from relink.kit.clock import from_unix
from relink.kit.metrics import REGISTRY
from relink.platforms.service import NewPlatform
from relink.runtime import Runtime
from relink.sandbox_bank.testing import parse_forms
from tests.factories import WireObject, create_customer, events_of_type, raw, timeline_kinds
from tests.hosted.factories import (
    account_without_grant,
    bank_account_ids,
    hosted_flow,
    relink_case,
    relink_session,
    retrieve_session,
)
from tests.hosted.pages import HostedPages, text_of


def test_credential_bank_with_mfa_repairs_the_account(
    client: stripe.StripeClient, platform: NewPlatform, http: httpx.Client
) -> None:
    soon = dt.datetime.now(dt.UTC) + dt.timedelta(days=10)
    case = relink_case(client, platform.owner.email, tan_expires_at=soon)
    pages = HostedPages(http, case.url)
    pages.open()
    assert "Sign in to Bank (Non-OAuth)" in text_of(pages.press_continue())
    assert "one more step" in text_of(pages.sign_in(case.bank_username, "secret-mfa"))
    assert "Your account is reconnected" in text_of(pages.answer("123456"))

    session = retrieve_session(client, case.session.id)
    assert (session.status, session.relink_result.to_dict()) == (
        "succeeded",
        {
            "authorization": case.account["authorization"],
            "account": case.account.id,
            "failure_reason": None,
        },
    )
    account = client.v1.financial_connections.accounts.retrieve(case.account.id)
    assert account.status == "active"
    assert account.status_details is not None and account.account_numbers is not None
    assert account.status_details.to_dict() == {}
    [number] = account.account_numbers
    # Bank (Non-OAuth) reports its plain account number now, which does not expire.
    assert (number.status, number.expected_expiry_date) == ("transactable", None)
    reactivated = events_of_type(client, "financial_connections.account.reactivated")
    assert [e["data"]["object"]["id"] for e in reactivated] == [case.account.id]
    numbers = events_of_type(client, "financial_connections.account.account_numbers_updated")
    assert numbers[0]["data"]["object"]["account_numbers"][0]["status"] == "transactable"
    updated = events_of_type(client, "financial_connections.session.updated")
    assert updated[0]["data"]["object"]["status"] == "succeeded"


def test_relink_stores_the_fresh_tan_with_its_new_expiry(
    client: stripe.StripeClient, platform: NewPlatform, http: httpx.Client, runtime: Runtime
) -> None:
    # Tokenized Account Numbers: the first authentication's TAN of "Expiring Soon
    # Checking" expires in 30 days; a relink issues one valid for a year.
    case = relink_case(
        client,
        platform.owner.email,
        institution="tokenized_account_numbers",
        cause=None,
        subcategory="checking",
    )
    before = client.v1.financial_connections.accounts.retrieve(case.account.id)
    pages = HostedPages(http, case.url)
    pages.open()
    done = pages.through_bank(pages.post("continue"), username=case.bank_username)
    assert "Your account is reconnected" in text_of(done)

    account = client.v1.financial_connections.accounts.retrieve(case.account.id)
    assert account.account_numbers is not None and before.account_numbers is not None
    [number] = account.account_numbers
    assert number.status == "transactable"
    assert number.expected_expiry_date is not None
    assert from_unix(number.expected_expiry_date) - dt.datetime.now(dt.UTC) > dt.timedelta(days=360)
    assert number.expected_expiry_date != before.account_numbers[0].expected_expiry_date
    assert timeline_kinds(runtime, case.session.id) == [
        "created",
        "viewed",
        "opened",
        "authenticated",
        "succeeded",
    ]


def test_oauth_bank_sharing_another_account_then_giving_up_is_cancelled_no_account(
    client: stripe.StripeClient, platform: NewPlatform, http: httpx.Client
) -> None:
    case = relink_case(client, platform.owner.email, institution="bank_oauth")
    savings = bank_account_ids("bank_oauth", case.bank_username)["Savings"]
    pages = HostedPages(http, case.url)
    pages.open()
    needed = pages.through_bank(
        pages.post("continue"), username=case.bank_username, accounts=[savings]
    )
    assert "The account was not shared" in text_of(needed)
    assert f"choose Bank (OAuth) ••••{case.account.last4}" in text_of(needed)
    assert retrieve_session(client, case.session.id).status == "pending"

    pages.give_up()
    session = retrieve_session(client, case.session.id)
    assert session.status == "cancelled"
    assert session.status_details.cancelled.reason == "other"
    assert session.relink_result.failure_reason == "no_account"
    assert client.v1.financial_connections.accounts.retrieve(case.account.id).status == "inactive"


def test_oauth_bank_sharing_the_right_account_on_the_second_try_succeeds(
    client: stripe.StripeClient, platform: NewPlatform, http: httpx.Client
) -> None:
    case = relink_case(client, platform.owner.email, institution="bank_oauth")
    ids = bank_account_ids("bank_oauth", case.bank_username)
    pages = HostedPages(http, case.url)
    pages.open()
    pages.through_bank(
        pages.post("continue"), username=case.bank_username, accounts=[ids["Savings"]]
    )
    pages.through_bank(
        pages.post("continue"), username=case.bank_username, accounts=[ids["Checking"]]
    )
    session = retrieve_session(client, case.session.id)
    assert (session.status, session.relink_result.account) == ("succeeded", case.account.id)


def test_giving_up_before_authenticating_is_cancelled_no_authorization(
    client: stripe.StripeClient, platform: NewPlatform, http: httpx.Client
) -> None:
    case = relink_case(client, platform.owner.email)
    pages = HostedPages(http, case.url)
    pages.open()
    pages.press_continue()
    assert "This request was cancelled" in text_of(pages.give_up())
    session = retrieve_session(client, case.session.id)
    assert (session.status, session.relink_result.failure_reason) == (
        "cancelled",
        "no_authorization",
    )
    assert session.status_details.cancelled.reason == "other"


def test_bank_error_keyword_fails_the_session_with_other(
    client: stripe.StripeClient, platform: NewPlatform, http: httpx.Client
) -> None:
    case = relink_case(client, platform.owner.email)
    pages = HostedPages(http, case.url)
    pages.open()
    pages.press_continue()
    failed = pages.sign_in(case.bank_username, "boom-error")
    assert "We could not reconnect your account" in text_of(failed)
    session = retrieve_session(client, case.session.id)
    assert (session.status, session.relink_result.failure_reason) == ("failed", "other")


def test_oauth_bank_error_fails_the_session_with_other(
    client: stripe.StripeClient, platform: NewPlatform, http: httpx.Client
) -> None:
    case = relink_case(client, platform.owner.email, institution="bank_oauth")
    pages = HostedPages(http, case.url)
    pages.open()
    bank = pages.post("continue")
    back = pages.http.get(bank.headers["location"], follow_redirects=True)
    # The bank's login page with the `error` keyword sends the holder back with server_error.
    form = next(f for f in parse_forms(back.text) if f.step == "login")
    answer = pages.http.post(
        httpx.URL(str(back.url)).join(form.action),
        data={
            **form.fields,
            "username": case.bank_username,
            "password": "x-error",
            "action": "sign_in",
        },
    )
    pages.follow(pages.http.get(answer.headers["location"]))
    session = retrieve_session(client, case.session.id)
    assert (session.status, session.relink_result.failure_reason) == ("failed", "other")


def test_down_bank_keeps_the_session_pending_and_says_try_later(
    client: stripe.StripeClient, platform: NewPlatform, http: httpx.Client, runtime: Runtime
) -> None:
    customer = create_customer(client, email=platform.owner.email, name="Ada")
    account_id = account_without_grant(
        runtime, customer.id, platform.platform.id, institution="down_scheduled"
    )
    session = raw(
        client,
        "post",
        "/v1/financial_connections/sessions",
        relink_options={
            "authorization": client.v1.financial_connections.accounts.retrieve(account_id)[
                "authorization"
            ],
            "account": account_id,
        },
        permissions=["payment_method"],
        ui_mode="hosted",
        hosted={"delivery_method": "url"},
    )
    pages = HostedPages(http, session["url"])
    pages.open()
    pages.press_continue()
    page = pages.sign_in("ada", "pw")
    assert "Your bank is unavailable right now, try again later." in text_of(page)
    assert retrieve_session(client, session.id).status == "pending"
    assert "Try again" in text_of(pages.open())


def test_wrong_answer_shows_an_error_and_allows_a_retry(
    client: stripe.StripeClient, platform: NewPlatform, http: httpx.Client
) -> None:
    case = relink_case(client, platform.owner.email)
    pages = HostedPages(http, case.url)
    pages.open()
    pages.press_continue()
    pages.sign_in(case.bank_username, "pw-mfa")
    refused = pages.answer("000000")
    assert refused.status_code == 400
    assert "did not accept that answer" in text_of(refused)
    assert "Your account is reconnected" in text_of(pages.answer("123456"))


def test_five_refused_passwords_lock_the_session(
    client: stripe.StripeClient, platform: NewPlatform, http: httpx.Client, runtime: Runtime
) -> None:
    case = relink_case(client, platform.owner.email)
    pages = HostedPages(http, case.url)
    pages.open()
    pages.press_continue()
    statuses = [pages.sign_in(case.bank_username, "pw-incorrect").status_code for _ in range(5)]
    assert statuses == [400, 400, 400, 400, 429]
    assert "Too many attempts" in text_of(pages.sign_in(case.bank_username, "pw"))
    flow = hosted_flow(runtime, case.session.id)
    assert flow is not None and flow.credential_failures == 5
    assert retrieve_session(client, case.session.id).status == "pending"


def test_authorization_wide_relink_repairs_returning_and_adds_new_accounts(
    client: stripe.StripeClient, platform: NewPlatform, http: httpx.Client
) -> None:
    case = relink_case(client, platform.owner.email, institution="bank_oauth", with_account=False)
    ids = bank_account_ids("bank_oauth", case.bank_username)
    pages = HostedPages(http, case.url)
    pages.open()
    pages.through_bank(
        pages.post("continue"),
        username=case.bank_username,
        accounts=[ids["Checking"], ids["Savings"]],
    )
    session = retrieve_session(client, case.session.id)
    assert session.status == "succeeded"
    assert session.relink_result.account is None
    linked = client.v1.financial_connections.accounts.list(
        params={"account_holder": {"customer": case.customer.id}}
    ).data
    assert sorted((a.display_name, a.status) for a in linked) == [
        ("Checking", "active"),
        ("Savings", "active"),
    ]
    assert sorted(a.id for a in session.accounts.data) == sorted(a.id for a in linked)


def test_success_redirects_to_the_validated_return_url(
    client: stripe.StripeClient, platform: NewPlatform, http: httpx.Client
) -> None:
    case = relink_case(client, platform.owner.email, return_url="http://localhost/relinked")
    pages = HostedPages(http, case.url)
    pages.open()
    pages.press_continue()
    done = pages.post("credentials", username=case.bank_username, password="pw")
    assert (done.status_code, done.headers["location"]) == (303, "http://localhost/relinked")


def test_finished_link_shows_its_outcome_and_never_reruns(
    client: stripe.StripeClient, platform: NewPlatform, http: httpx.Client, runtime: Runtime
) -> None:
    case = relink_case(client, platform.owner.email)
    pages = HostedPages(http, case.url)
    pages.open()
    pages.press_continue()
    pages.sign_in(case.bank_username, "pw")
    again = pages.press_continue()
    assert "Your account is reconnected" in text_of(again)
    assert "Continue" not in text_of(again)
    assert timeline_kinds(runtime, case.session.id).count("opened") == 1
    assert retrieve_session(client, case.session.id).status == "succeeded"


def test_a_newer_session_makes_the_old_link_say_a_newer_link_was_sent(
    client: stripe.StripeClient, platform: NewPlatform, http: httpx.Client
) -> None:
    case = relink_case(client, platform.owner.email)
    relink_session(client, case.account)
    assert "A newer link was sent" in text_of(HostedPages(http, case.url).open())


def _bank_refusals() -> float:
    """Sign-ins the sandbox bank refused (401), from the server's request metrics."""
    labels = {"method": "POST", "route": "/sandbox-bank/…", "status": "401"}
    return REGISTRY.get_sample_value("relink_http_requests_total", labels) or 0.0


def test_parallel_wrong_passwords_reach_the_bank_at_most_the_limit(
    client: stripe.StripeClient, platform: NewPlatform, http: httpx.Client, runtime: Runtime
) -> None:
    case = relink_case(client, platform.owner.email)
    pages = HostedPages(http, case.url)
    pages.open()
    pages.press_continue()
    token = pages.csrf()
    before = _bank_refusals()
    start = threading.Barrier(15)

    def attempt(_: int) -> int:
        with httpx.Client(timeout=30.0) as browser:
            start.wait()
            data = {"csrf_token": token, "username": case.bank_username, "password": "pw-incorrect"}
            answer = browser.post(f"{case.url}/credentials", data=data)
            return browser.get(answer.headers["location"]).status_code

    with ThreadPoolExecutor(max_workers=15) as pool:
        statuses = sorted(pool.map(attempt, range(15)))

    assert _bank_refusals() - before == MAX_CREDENTIAL_FAILURES
    # 400: refused by the bank with attempts left; 429: "too many attempts", for an
    # attempt refused before the bank and for a refusal that took the last attempt.
    assert statuses.count(400) < MAX_CREDENTIAL_FAILURES
    assert set(statuses) <= {400, 429}
    flow = hosted_flow(runtime, case.session.id)
    assert flow is not None and flow.credential_failures == MAX_CREDENTIAL_FAILURES
    assert "Too many attempts" in text_of(pages.sign_in(case.bank_username, "pw"))


def test_a_bank_found_down_during_the_flow_is_recorded_in_trouble(
    client: stripe.StripeClient,
    platform: NewPlatform,
    http: httpx.Client,
    outage: Callable[..., WireObject | None],
) -> None:
    case = relink_case(client, platform.owner.email)
    outage("down", quietly=True)  # Relink still thinks the bank works
    assert institution_status(client) == "active"
    pages = HostedPages(http, case.url)
    pages.open()
    pages.press_continue()
    page = pages.sign_in(case.bank_username, "pw")
    assert "Your bank is unavailable right now, try again later." in text_of(page)
    assert institution_status(client) == "degraded"


def test_a_bank_server_error_during_the_flow_is_recorded_in_trouble(
    client: stripe.StripeClient,
    platform: NewPlatform,
    http: httpx.Client,
    outage: Callable[..., WireObject | None],
) -> None:
    case = relink_case(client, platform.owner.email)
    outage("degraded", quietly=True)  # the bank answers 500 to every call
    pages = HostedPages(http, case.url)
    pages.open()
    pages.press_continue()
    pages.sign_in(case.bank_username, "pw")
    assert retrieve_session(client, case.session.id).status == "failed"
    assert institution_status(client) == "degraded"


def institution_status(client: stripe.StripeClient) -> str:
    path = "/v1/financial_connections/institutions/fcinst_bank_non_oauth"
    return str(raw(client, "get", path)["status"])
