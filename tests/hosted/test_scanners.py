"""Links a machine cannot break (docs/links.md): a mail scanner that fetches every link
and presses every button of the landing page cancels nothing and spends none of the
holder's new links, and its visits are counted as ``scanned``, not as a person's."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from dataclasses import dataclass
from html import unescape
from urllib.parse import urljoin

import httpx
import pytest
import stripe

from relink.hosted.links import (
    BURST_LINKS,
    CONFIRM_LIFETIME,
    DELIVERY_WINDOW,
    LinkAddress,
    LinkKind,
    looks_automated,
    resolve,
)
from relink.hosted.traffic import Visit, machine_signal
from relink.platforms.service import NewPlatform
from relink.runtime import Runtime
from relink.sessions.report import OutreachReport, Period, outreach_report
from relink.sessions.rollup import refresh_days
from relink.tenancy import Scope
from tests.factories import advance_clock, drain_outbox, raw, timeline_details, timeline_kinds
from tests.hosted.factories import (
    RelinkCase,
    hosted_flow,
    relink_case,
    retrieve_session,
    stored_session,
)
from tests.hosted.pages import HostedPages, text_of

SCANNER_AGENT = "Mozilla/5.0 (compatible; Barracuda Sentinel URL Scanner)"
BROWSER_AGENT = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0 Safari/537.36"
)
FORM = re.compile(r"<form\b([^>]*)>(.*?)</form>", re.DOTALL)
ATTRIBUTE = re.compile(r'(\w[\w-]*)="([^"]*)"')
INPUT = re.compile(r"<(?:input|button)\b([^>]*)>")
LINK = re.compile(r'(?:href|src)="([^"#]+)"')


@dataclass
class Scanner:
    """A mail scanner that fetches every link of a page and submits every form on it
    with the tokens it carries (buttons' values included), following redirects."""

    http: httpx.Client
    headers: dict[str, str]

    def replay(self, url: str) -> list[httpx.Response]:
        self.http.head(url, headers=self.headers)
        page = self.http.get(url, headers=self.headers)
        answers = [page]
        for link in sorted(set(LINK.findall(page.text))):
            answers.append(self._get(urljoin(url, unescape(link))))
        for attributes, body in FORM.findall(page.text):
            form = dict(ATTRIBUTE.findall(attributes))
            if form.get("method", "get").lower() != "post":
                continue
            fields: dict[str, str] = {}
            for element in INPUT.findall(body):
                found = dict(ATTRIBUTE.findall(element))
                if "name" in found:
                    fields[found["name"]] = unescape(found.get("value", ""))
            answer = self.http.post(
                urljoin(url, unescape(form["action"])), data=fields, headers=self.headers
            )
            while answer.status_code in (302, 303):
                answer = self._get(urljoin(url, answer.headers["location"]))
            answers.append(answer)
        return answers

    def _get(self, url: str) -> httpx.Response:
        if not url.startswith(("http://127.0.0.1", "/")):
            return httpx.Response(204)  # another site (the bank): not Relink's to count
        return self.http.get(url, headers=self.headers)


def _emailed(client: stripe.StripeClient, runtime: Runtime, email: str) -> RelinkCase:
    case = relink_case(client, email, delivery_method="email")
    drain_outbox(runtime)
    assert "email_sent" in timeline_kinds(runtime, case.session.id)
    return case


def _sessions_of(client: stripe.StripeClient, account_id: str) -> list[str]:
    listed = raw(
        client, "get", "/v1/financial_connections/sessions", relink_options={"account": account_id}
    )
    return [session["id"] for session in listed["data"]]


def _funnel(runtime: Runtime, platform: NewPlatform) -> OutreachReport:
    """The funnel of today and yesterday, rolled up first as the worker's scan would."""
    today = dt.datetime.now(dt.UTC).date()
    first = today - dt.timedelta(days=1)
    scope = Scope(platform.platform.id, False)
    with runtime.database.unit_of_work() as db:
        refresh_days(db, scope, first, today)
    with runtime.database.read_only() as db:
        return outreach_report(db, scope, Period.of(first, today))


@pytest.fixture
def scanner() -> Iterator[Scanner]:
    """The scanner's own HTTP client (its cookies are not the holder's)."""
    with httpx.Client(timeout=15.0, follow_redirects=False) as own:
        yield Scanner(own, {"user-agent": SCANNER_AGENT})


def test_a_scanner_replaying_the_landing_page_changes_nothing_and_counts_as_scanned(
    client: stripe.StripeClient,
    platform: NewPlatform,
    runtime: Runtime,
    scanner: Scanner,
    http: httpx.Client,
) -> None:
    case = _emailed(client, runtime, platform.owner.email)
    answers = scanner.replay(case.url)
    # It did press the buttons: one of them led it to the cancel confirmation page.
    # (It followed the language links too: the pages it got are in Dutch by now.)
    assert any(f"{case.token}/cancel/confirm" in answer.text for answer in answers)

    assert retrieve_session(client, case.session.id).status == "pending"
    assert _sessions_of(client, case.account.id) == [case.session.id]
    assert hosted_flow(runtime, case.session.id).step == "landing"  # type: ignore[union-attr]
    kinds = timeline_kinds(runtime, case.session.id)
    assert kinds.count("scanned") == 1
    assert "viewed" not in kinds and "opened" not in kinds and "cancelled" not in kinds
    # A machine's visit keeps nothing alive: the 30 days still run from the request.
    assert stored_session(runtime, case.session.id).link_last_visit_at is None
    report = _funnel(runtime, platform)
    assert (report.totals["scanned"], report.totals["viewed"], report.totals["opened"]) == (
        1,
        0,
        0,
    )

    # The holder comes later: their visit is a person's, and they can still give up.
    holder = HostedPages(http, case.url)
    assert "Reconnect your bank account" in text_of(holder.open(**{"user-agent": BROWSER_AGENT}))
    assert "This request was cancelled" in text_of(holder.give_up())
    assert timeline_kinds(runtime, case.session.id)[-2:] == ["viewed", "cancelled"]
    assert _funnel(runtime, platform).totals["viewed"] == 1


def test_a_scanner_replaying_the_cancelled_page_spends_none_of_the_new_links(
    client: stripe.StripeClient,
    platform: NewPlatform,
    runtime: Runtime,
    scanner: Scanner,
    http: httpx.Client,
) -> None:
    case = _emailed(client, runtime, platform.owner.email)
    HostedPages(http, case.url).give_up()
    for _ in range(4):  # more than the day's budget of new links
        answers = scanner.replay(case.url)
        assert any(f"{case.token}/new-link/confirm" in answer.text for answer in answers)
    assert _sessions_of(client, case.account.id) == [case.session.id]

    # The holder's own request goes through: the budget is whole.
    holder = HostedPages(http, case.url)
    holder.open()
    assert "Check your email" in text_of(holder.email_new_link())
    assert len(_sessions_of(client, case.account.id)) == 2


def test_cancelling_with_the_landing_pages_tokens_alone_is_refused(
    client: stripe.StripeClient, platform: NewPlatform, http: httpx.Client
) -> None:
    case = relink_case(client, platform.owner.email)
    pages = HostedPages(http, case.url)
    pages.open()
    csrf = pages.csrf()
    for confirmation in ("", "forged", csrf):
        answer = http.post(
            f"{case.url}/cancel/confirm", data={"csrf_token": csrf, "confirmation": confirmation}
        )
        assert (answer.status_code, answer.headers["location"]) == (303, case.url)
    # Even once a confirmation was asked for, only its own page's token confirms it.
    asked = pages.follow(pages.post("cancel"))
    assert "Cancel this request?" in text_of(asked)
    http.post(f"{case.url}/cancel/confirm", data={"csrf_token": csrf, "confirmation": "forged"})
    assert retrieve_session(client, case.session.id).status == "pending"


def test_the_first_post_only_leads_to_the_confirmation_page(
    client: stripe.StripeClient, platform: NewPlatform, http: httpx.Client, runtime: Runtime
) -> None:
    case = relink_case(client, platform.owner.email)
    pages = HostedPages(http, case.url)
    pages.open()
    asked = pages.post("cancel")
    assert (asked.status_code, asked.headers["location"]) == (303, f"{case.url}/cancel")
    assert retrieve_session(client, case.session.id).status == "pending"
    # "No, go back" leads to the landing, which works as before.
    page = pages.follow(asked)
    assert f'href="/relink/{case.token}"' in page.text
    assert "Reconnect your bank account" in text_of(pages.open())
    assert "cancelled" not in timeline_kinds(runtime, case.session.id)


def test_a_confirmation_works_once_and_not_after_it_went_stale(
    client: stripe.StripeClient, platform: NewPlatform, http: httpx.Client
) -> None:
    case = relink_case(client, platform.owner.email, delivery_method="email")
    pages = HostedPages(http, case.url)
    pages.give_up()
    pages.follow(pages.post("new-link"))
    token = pages.confirmation()
    confirm = {"csrf_token": pages.csrf(), "confirmation": token}
    sent = http.post(f"{case.url}/new-link/confirm", data=confirm)
    assert sent.headers["location"] == f"{case.url}/new-link/sent"
    again = http.post(f"{case.url}/new-link/confirm", data=confirm)
    assert again.headers["location"] == case.url
    assert len(_sessions_of(client, case.account.id)) == 2

    pages.follow(pages.post("new-link"))
    stale = {"csrf_token": pages.csrf(), "confirmation": pages.confirmation()}
    advance_clock(client, int(CONFIRM_LIFETIME.total_seconds()) + 60)
    assert http.post(f"{case.url}/new-link/confirm", data=stale).headers["location"] == case.url
    assert http.get(f"{case.url}/new-link").headers["location"] == case.url
    assert len(_sessions_of(client, case.account.id)) == 2


def test_the_confirmation_pages_without_an_ask_lead_back_to_the_link(
    client: stripe.StripeClient, platform: NewPlatform, http: httpx.Client
) -> None:
    case = relink_case(client, platform.owner.email)
    for path in ("/cancel", "/new-link"):
        answer = http.get(case.url + path)
        assert (answer.status_code, answer.headers["location"]) == (303, case.url)
    unknown = case.url.rsplit("/", 1)[0] + "/" + "A" * 43
    for path in ("/cancel", "/new-link", "/new-link/sent"):
        assert http.get(unknown + path).status_code == 404


@pytest.mark.parametrize(
    "headers",
    [
        {"user-agent": BROWSER_AGENT, "sec-purpose": "prefetch;prerender"},
        {"user-agent": BROWSER_AGENT, "purpose": "prefetch"},
        {"user-agent": BROWSER_AGENT, "x-moz": "prefetch"},
        {"user-agent": "Mozilla/5.0 (compatible; bingbot/2.0)"},
        {"user-agent": ""},
    ],
    ids=["sec-purpose", "purpose", "x-moz", "crawler", "no-agent"],
)
def test_prefetches_and_crawlers_are_recorded_as_scanned(
    client: stripe.StripeClient,
    platform: NewPlatform,
    http: httpx.Client,
    runtime: Runtime,
    headers: dict[str, str],
) -> None:
    case = relink_case(client, platform.owner.email)
    assert http.get(case.url, headers=headers).status_code == 200
    assert timeline_kinds(runtime, case.session.id) == ["created", "scanned"]
    assert stored_session(runtime, case.session.id).link_last_visit_at is None


def test_a_head_request_is_answered_without_a_body_and_recorded_as_scanned(
    client: stripe.StripeClient, platform: NewPlatform, http: httpx.Client, runtime: Runtime
) -> None:
    case = relink_case(client, platform.owner.email)
    answer = http.head(case.url, headers={"user-agent": BROWSER_AGENT})
    assert (answer.status_code, answer.content) == (200, b"")
    assert timeline_details(runtime, case.session.id, "scanned") == [{"signal": "head_request"}]


def test_many_links_of_one_batch_opened_from_one_address_right_after_delivery_are_scanned(
    client: stripe.StripeClient, platform: NewPlatform, http: httpx.Client, runtime: Runtime
) -> None:
    cases = [
        relink_case(client, platform.owner.email, delivery_method="email")
        for _ in range(BURST_LINKS)
    ]
    drain_outbox(runtime)
    browser = {"user-agent": BROWSER_AGENT}
    for case in cases:  # a scanner that looks like a browser, from one address
        HostedPages(http, case.url).open(**browser)
    for case in cases:
        kinds = timeline_kinds(runtime, case.session.id)
        assert "scanned" in kinds and "viewed" not in kinds, kinds
        assert stored_session(runtime, case.session.id).link_last_visit_at is None
    # Its Continue is not the holder's "opened" either.
    HostedPages(http, cases[0].url).press_continue()
    assert "opened" not in timeline_kinds(runtime, cases[0].session.id)

    # Later, the holder of one of them opens it from the same address: a person.
    advance_clock(client, int(DELIVERY_WINDOW.total_seconds()) + 60)
    HostedPages(http, cases[1].url).open(**browser)
    assert timeline_kinds(runtime, cases[1].session.id)[-1] == "viewed"
    report = _funnel(runtime, platform)
    assert (report.totals["scanned"], report.totals["viewed"]) == (BURST_LINKS, 1)


def test_fewer_links_than_a_burst_are_people(
    client: stripe.StripeClient, platform: NewPlatform, http: httpx.Client, runtime: Runtime
) -> None:
    cases = [
        relink_case(client, platform.owner.email, delivery_method="email")
        for _ in range(BURST_LINKS - 1)
    ]
    drain_outbox(runtime)
    for case in cases:
        HostedPages(http, case.url).press_continue()
    for case in cases:
        assert timeline_kinds(runtime, case.session.id)[-2:] == ["viewed", "opened"]


@pytest.mark.parametrize(
    ("visit", "signal"),
    [
        (Visit("HEAD", BROWSER_AGENT), "head_request"),
        (Visit("GET", BROWSER_AGENT, purpose="prefetch"), "prefetch"),
        (Visit("GET", BROWSER_AGENT, purpose="document"), None),
        (Visit("GET", None), "no_user_agent"),
        (Visit("GET", "  "), "no_user_agent"),
        (Visit("GET", "Mozilla/5.0 (compatible; proofpoint)"), "scanner_user_agent"),
        (Visit("GET", "Slackbot-LinkExpanding 1.0"), "scanner_user_agent"),
        (Visit("GET", BROWSER_AGENT), None),
        # A phone whose model name ends in "bot" is a person's.
        (Visit("GET", "Mozilla/5.0 (Linux; Android 10; CUBOT P40) Mobile"), None),
    ],
)
def test_what_a_request_says_about_itself(visit: Visit, signal: str | None) -> None:
    assert machine_signal(visit) == signal


def test_a_machines_visit_of_a_modal_link_records_nothing(
    client: stripe.StripeClient, platform: NewPlatform, http: httpx.Client, runtime: Runtime
) -> None:
    customer = raw(client, "post", "/v1/customers", email=platform.owner.email)
    created = raw(
        client,
        "post",
        "/v1/financial_connections/sessions",
        account_holder={"type": "customer", "customer": customer.id},
        permissions=["payment_method"],
    )
    url = f"{runtime.settings.public_url}/link/{created.client_secret}"
    assert http.get(url, headers={"user-agent": SCANNER_AGENT}).status_code == 200
    assert timeline_kinds(runtime, created.id) == []
    assert stored_session(runtime, created.id).link_last_visit_at is None


def test_a_post_without_a_client_address_is_judged_by_its_request_alone(
    client: stripe.StripeClient, platform: NewPlatform, runtime: Runtime
) -> None:
    case = relink_case(client, platform.owner.email)
    with runtime.database.read_only() as db:
        link = resolve(db, LinkAddress(LinkKind.relink, case.token))
        assert link is not None
        assert looks_automated(db, link, Visit("POST", BROWSER_AGENT)) is False
        assert looks_automated(db, link, Visit("POST", SCANNER_AGENT)) is True
