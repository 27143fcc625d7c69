"""Linking and relinking at a NextGenPSD2 bank through the hosted pages, over HTTP.

The bank is a stand-in ASPSP served on its own port; every request Relink's connector
sends it and every answer it gives are checked against the Berlin Group's OpenAPI
document on the bank's side. The holder's steps at the bank (authorising, cancelling)
are the test's; Relink only sees what a real bank would show it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import stripe

from relink.institutions.catalog import InstitutionSpec
from relink.institutions.service import register_institutions
from relink.runtime import Runtime
from relink.sandbox_bank.psd2.aspsps import ASPSPS_BY_KEY
from relink.sandbox_bank.psd2.data import accounts_for
from relink.sandbox_bank.testing import free_port, parse_forms, serve_in_thread
from relink.sessions import timeline
from tests.connectors.nextgenpsd2.aspsp import AsgiBank, StandInBank
from tests.factories import create_customer, drain_outbox, raw, wire
from tests.hosted.connect_factories import RETURN_URL, link_session
from tests.hosted.factories import retrieve_session
from tests.hosted.pages import HostedPages, text_of
from tests.schema import assert_valid

IBAN = "DE02120300000000202051"
DAY = 86400


@dataclass
class Aspsp:
    bank: StandInBank
    app: AsgiBank
    institution: str


def _serve(
    runtime: Runtime, key: str, name: str, *, port: int | None = None, **settings: Any
) -> Iterator[Aspsp]:
    port = port or free_port()
    bank = StandInBank(base_path="/psd2", sca_pages=f"http://127.0.0.1:{port}/sca")
    app = AsgiBank(bank, server=f"http://127.0.0.1:{port}/psd2")
    spec = InstitutionSpec(
        key=key,
        name=name,
        auth_kind="oauth",
        connector="nextgenpsd2",
        countries=("DE",),
        bic="TESTDEFFXXX",
        settings={
            "base_url": f"http://127.0.0.1:{port}/psd2",
            "country": "DE",
            "bic": "TESTDEFFXXX",
            "consent_valid_days": 90,
            **settings,
        },
        features={
            "balances": True,
            "ownership": True,
            "payment_method": False,
            "transactions": True,
        },
    )
    with runtime.database.unit_of_work() as db:
        register_institutions(db, (spec,))
    with serve_in_thread(app, port=port):
        yield Aspsp(bank, app, spec.institution_id)
    assert not app.breaches, app.breaches


@pytest.fixture(scope="module")
def aspsp(runtime: Runtime) -> Iterator[Aspsp]:
    yield from _serve(runtime, "psd2_standin", "Stand-in PSD2 Bank")


@pytest.fixture(autouse=True)
def _fresh_bank(aspsp: Aspsp) -> None:
    aspsp.bank.consents.clear()
    aspsp.bank.failures.clear()
    aspsp.bank.approach = "REDIRECT"
    aspsp.app.checked.requests.clear()


def _session(client: stripe.StripeClient, aspsp: Aspsp, **params: Any) -> Any:
    customer = create_customer(client, name="Erika Mustermann")
    return link_session(
        client,
        customer,
        permissions=["balances", "transactions"],
        filters={"institution": aspsp.institution},
        **params,
    )


def _back_from_bank(pages: HostedPages, aspsp: Aspsp, *, authorise: bool) -> httpx.Response:
    """The holder at the bank's page: authorises (or not) and is sent back to Relink."""
    consent = aspsp.bank.last
    if authorise:
        aspsp.bank.authorise(consent.id)
        back = consent.redirect_uri
    else:
        back = consent.nok_redirect_uri
    assert back is not None
    return pages.follow(pages.http.get(back))


def _link(client: stripe.StripeClient, http: httpx.Client, aspsp: Aspsp) -> Any:
    created = _session(client, aspsp)
    pages = HostedPages(http, created.url)
    pages.open()
    away = pages.post("continue")
    assert away.status_code == 303
    assert away.headers["location"] == f"{aspsp.bank.sca_pages}/{aspsp.bank.last.id}"
    _back_from_bank(pages, aspsp, authorise=True)
    pages.choose_accounts(IBAN)
    done = pages.post("consent")
    assert (done.status_code, done.headers["location"]) == (303, RETURN_URL)
    return retrieve_session(client, created.id)


def test_a_link_authorises_a_consent_at_the_bank_and_links_the_iban_account(
    client: stripe.StripeClient, http: httpx.Client, aspsp: Aspsp
) -> None:
    session = _link(client, http, aspsp)

    assert session.status == "succeeded"
    [account] = session.accounts.data
    assert_valid(account.to_dict(), "financial_connections.account")
    assert (account.last4, account.subcategory, account.category) == ("2051", "checking", "cash")
    assert account.supported_payment_method_types == []
    assert account.account_numbers == []
    valid_until = dt.date.fromisoformat(aspsp.bank.last.body["validUntil"])
    ends = dt.datetime.combine(valid_until + dt.timedelta(days=1), dt.time(), dt.UTC)
    assert account.status_details.active.expected_deactivation_date == int(ends.timestamp())


def test_the_consent_is_asked_for_with_the_holder_s_ip_address(
    client: stripe.StripeClient, http: httpx.Client, aspsp: Aspsp
) -> None:
    pages = HostedPages(http, _session(client, aspsp).url)
    pages.open()
    pages.post("continue")

    [created] = [r for r in aspsp.app.checked.requests if r.method == "POST"]
    assert created.headers["PSU-IP-Address"] == "127.0.0.1"
    assert created.headers["PSU-User-Agent"] == http.headers["user-agent"]


def test_cancelled_at_the_bank_the_holder_may_try_again(
    client: stripe.StripeClient, http: httpx.Client, aspsp: Aspsp
) -> None:
    created = _session(client, aspsp)
    pages = HostedPages(http, created.url)
    pages.open()
    pages.post("continue")

    page = _back_from_bank(pages, aspsp, authorise=False)

    assert "You cancelled signing in at your bank" in text_of(page)
    assert retrieve_session(client, created.id).status == "pending"


def test_a_consent_the_bank_rejects_fails_the_session_with_its_reason_kept(
    client: stripe.StripeClient, http: httpx.Client, aspsp: Aspsp, runtime: Runtime
) -> None:
    created = _session(client, aspsp)
    pages = HostedPages(http, created.url)
    pages.open()
    pages.post("continue")
    consent = aspsp.bank.last
    aspsp.bank.reject(consent.id)

    assert consent.redirect_uri is not None
    pages.follow(http.get(consent.redirect_uri))

    assert retrieve_session(client, created.id).status == "failed"


def _refresh(client: stripe.StripeClient, runtime: Runtime, account_id: str) -> Any:
    client.v1.financial_connections.accounts.refresh(account_id, params={"features": ["balance"]})
    drain_outbox(runtime)
    return client.v1.financial_connections.accounts.retrieve(account_id)


def test_a_refresh_reads_the_balance_in_minor_units(
    client: stripe.StripeClient, http: httpx.Client, aspsp: Aspsp, runtime: Runtime
) -> None:
    [account] = _link(client, http, aspsp).accounts.data

    refreshed = _refresh(client, runtime, account.id)

    assert refreshed.balance_refresh.status == "succeeded"
    assert refreshed.balance.current.to_dict() == {"eur": 125040}
    assert_valid(refreshed.to_dict(), "financial_connections.account")
    unattended = aspsp.app.checked.requests[-1]
    assert not [h for h in unattended.headers if h.lower().startswith("psu-")]


@pytest.mark.parametrize(
    ("status", "cause"), [("expired", "access_expired"), ("revokedByPsu", "access_denied")]
)
def test_a_consent_that_ended_at_the_bank_deactivates_on_the_next_refresh(
    client: stripe.StripeClient,
    http: httpx.Client,
    aspsp: Aspsp,
    runtime: Runtime,
    status: str,
    cause: str,
) -> None:
    [account] = _link(client, http, aspsp).accounts.data
    aspsp.bank.last.status = status

    refreshed = _refresh(client, runtime, account.id)

    assert refreshed.status == "inactive"
    assert refreshed.status_details.inactive.cause == cause


def test_access_exceeded_at_the_bank_backs_off_and_never_deactivates(
    client: stripe.StripeClient, http: httpx.Client, aspsp: Aspsp, runtime: Runtime
) -> None:
    [account] = _link(client, http, aspsp).accounts.data
    aspsp.bank.fail_next(
        "GET /v1/accounts",
        httpx.Response(
            429, json={"tppMessages": [{"category": "ERROR", "code": "ACCESS_EXCEEDED"}]}
        ),
    )

    refreshed = _refresh(client, runtime, account.id)

    assert refreshed.status == "active"
    assert refreshed.balance_refresh.status == "pending"  # retried later
    institution = raw(client, "get", f"/v1/financial_connections/institutions/{aspsp.institution}")
    assert institution["status"] == "active"


def test_a_bank_that_answers_503_is_unhealthy_but_the_account_stays_active(
    client: stripe.StripeClient, http: httpx.Client, aspsp: Aspsp, runtime: Runtime
) -> None:
    [account] = _link(client, http, aspsp).accounts.data
    aspsp.bank.fail_next("GET /v1/accounts", httpx.Response(503))

    refreshed = _refresh(client, runtime, account.id)

    assert refreshed.status == "active"
    assert refreshed.balance_refresh.status == "pending"
    institution = raw(client, "get", f"/v1/financial_connections/institutions/{aspsp.institution}")
    assert institution["status"] == "degraded"


def test_a_relink_renews_the_consent_for_the_same_iban_and_ends_the_old_one(
    client: stripe.StripeClient, http: httpx.Client, aspsp: Aspsp, runtime: Runtime
) -> None:
    [account] = _link(client, http, aspsp).accounts.data
    old = aspsp.bank.last
    raw(client, "post", "/v1/test_helpers/clock/advance", seconds=100 * DAY)
    expired = client.v1.financial_connections.accounts.retrieve(account.id)
    assert wire(expired).status_details.inactive.cause == "access_expired"
    session = raw(
        client,
        "post",
        "/v1/financial_connections/sessions",
        relink_options={"authorization": account.authorization, "account": account.id},
        permissions=["balances"],
        ui_mode="hosted",
        hosted={"delivery_method": "url"},
    )
    pages = HostedPages(http, str(session["url"]))
    pages.open()
    assert pages.post("continue").status_code == 303
    new = aspsp.bank.last
    assert new.body["access"]["accounts"] == [{"iban": IBAN}]

    _back_from_bank(pages, aspsp, authorise=True)

    repaired = client.v1.financial_connections.accounts.retrieve(account.id)
    assert repaired.status == "active"
    assert repaired["authorization"] == account.authorization
    assert repaired.status_details is not None and repaired.status_details.active is not None
    ends = repaired.status_details.active.expected_deactivation_date
    assert ends > account.status_details.active.expected_deactivation_date
    assert old.status == "valid"  # not ended inside the holder's request
    drain_outbox(runtime)
    assert (old.status, new.status) == ("terminatedByTpp", "valid")


def test_disconnect_ends_the_consent_at_the_bank(
    client: stripe.StripeClient, http: httpx.Client, aspsp: Aspsp, runtime: Runtime
) -> None:
    [account] = _link(client, http, aspsp).accounts.data

    client.v1.financial_connections.accounts.disconnect(account.id)
    drain_outbox(runtime)

    assert aspsp.bank.last.status == "terminatedByTpp"


@pytest.fixture(scope="module")
def decoupled(runtime: Runtime) -> Iterator[Aspsp]:
    yield from _serve(
        runtime,
        "psd2_standin_decoupled",
        "Stand-in PSD2 Bank (Decoupled)",
        sca_approaches=["decoupled"],
        poll_interval_seconds=1,
    )


def test_decoupled_the_holder_waits_on_a_page_that_refreshes_until_approved_in_the_app(
    client: stripe.StripeClient, http: httpx.Client, decoupled: Aspsp, runtime: Runtime
) -> None:
    decoupled.bank.approach = "DECOUPLED"
    created = _session(client, decoupled)
    pages = HostedPages(http, created.url)
    pages.open()

    waiting = pages.press_continue()
    assert "Approve in your banking app" in text_of(waiting)
    path = urlsplit(created.url).path
    assert f'<meta http-equiv="refresh" content="1;url={path}/wait">' in waiting.text
    still = pages.follow(http.get(f"{created.url}/wait"))
    assert "Approve in your banking app" in text_of(still)

    decoupled.bank.authorise(decoupled.bank.last.id)
    chosen = pages.follow(http.get(f"{created.url}/wait"))
    assert IBAN[-4:] in text_of(chosen)
    pages.choose_accounts(IBAN)
    assert pages.post("consent").headers["location"] == RETURN_URL
    assert retrieve_session(client, created.id).status == "succeeded"


def test_a_bank_error_fails_the_session_keeping_its_codes_but_not_its_text(
    client: stripe.StripeClient, http: httpx.Client, aspsp: Aspsp, runtime: Runtime
) -> None:
    [account] = _link(client, http, aspsp).accounts.data
    aspsp.bank.last.status = "revokedByPsu"
    assert _refresh(client, runtime, account.id).status == "inactive"
    session = raw(
        client,
        "post",
        "/v1/financial_connections/sessions",
        relink_options={"authorization": account.authorization},
        permissions=["balances"],
        ui_mode="hosted",
        hosted={"delivery_method": "url"},
    )
    aspsp.bank.fail_next(
        "POST /v1/consents",
        httpx.Response(
            400,
            json={
                "tppMessages": [
                    {"category": "ERROR", "code": "FORMAT_ERROR", "text": "Erika Mustermann"}
                ]
            },
        ),
    )
    pages = HostedPages(http, str(session["url"]))
    pages.open()

    pages.press_continue()

    assert retrieve_session(client, str(session["id"])).status == "failed"
    with runtime.database.read_only() as db:
        [failed] = [e for e in timeline.entries(db, str(session["id"])) if e.kind == "failed"]
    assert failed.detail == {"error": "Unexpected", "bank_codes": ["FORMAT_ERROR"]}
    assert "Mustermann" not in str(failed.detail)


def test_thirty_days_before_valid_until_the_platform_hears_of_the_upcoming_deactivation(
    client: stripe.StripeClient, http: httpx.Client, aspsp: Aspsp
) -> None:
    [account] = _link(client, http, aspsp).accounts.data
    upcoming = "financial_connections.account.upcoming_deactivation"

    raw(client, "post", "/v1/test_helpers/clock/advance", seconds=59 * DAY)
    assert not [
        e
        for e in client.v1.events.list(params={"type": upcoming}).data
        if e.data.object.id == account.id
    ]
    raw(client, "post", "/v1/test_helpers/clock/advance", seconds=2 * DAY)

    [event] = [
        e
        for e in client.v1.events.list(params={"type": upcoming}).data
        if e.data.object.id == account.id
    ]
    assert event.data.object.status == "active"


@pytest.fixture(scope="module")
def oauth(runtime: Runtime) -> Iterator[Aspsp]:
    port = free_port()
    yield from _serve(
        runtime,
        "psd2_standin_oauth",
        "Stand-in PSD2 Bank (OAuth)",
        port=port,
        sca_approaches=["oauth"],
        oauth_authorize_url=f"http://127.0.0.1:{port}/oauth/authorize",
        oauth_token_url=f"http://127.0.0.1:{port}/psd2/oauth/token",
        oauth_client_id="PSDDE-TEST-1",
    )


def test_the_oauth_pre_step_signs_in_then_authorises_the_consent_in_the_same_browser(
    client: stripe.StripeClient, http: httpx.Client, oauth: Aspsp
) -> None:
    created = _session(client, oauth)
    pages = HostedPages(http, created.url)
    pages.open()
    authorize = pages.post("continue")
    assert authorize.status_code == 303
    query = {k: v[0] for k, v in parse_qs(urlsplit(authorize.headers["location"]).query).items()}
    assert query["code_challenge_method"] == "S256"
    oauth.bank.codes["code-1"] = query["code_challenge"]
    # The bank's authorize page sends the holder back with a code.
    sca = http.get(query["redirect_uri"], params={"code": "code-1", "state": query["state"]})

    assert sca.status_code == 303
    assert sca.headers["location"] == f"{oauth.bank.sca_pages}/{oauth.bank.last.id}"
    assert oauth.bank.last.token == "at-1"
    _back_from_bank(pages, oauth, authorise=True)
    pages.choose_accounts(IBAN)
    assert pages.post("consent").headers["location"] == RETURN_URL
    assert retrieve_session(client, created.id).status == "succeeded"


def test_a_link_at_the_sandbox_psd2_bank_walks_its_sca_pages_and_links_its_ibans(
    client: stripe.StripeClient, http: httpx.Client, runtime: Runtime
) -> None:
    customer = create_customer(client, name="Erika Mustermann")
    created = link_session(
        client,
        customer,
        permissions=["balances"],
        filters={"institution": "fcinst_psd2_redirect"},
    )
    pages = HostedPages(http, created.url)
    pages.open()
    away = pages.post("continue")
    assert away.status_code == 303
    username = customer.id.lower()

    response = http.get(away.headers["location"])
    answers = {
        "login": {"username": username, "password": "pw", "action": "sign_in"},
        "method": {"method": "sms_otp", "action": "choose"},
        "code": {"code": "123456", "action": "code"},
    }
    for _ in range(12):
        form = next(f for f in parse_forms(response.text) if f.step)
        data: dict[str, str | list[str]] = dict(form.fields)
        if form.step == "accounts":
            data.update(action="accounts", account=[v for v, _ in form.checkboxes["account"]])
        else:
            data.update(answers[form.step or ""])
        answer = http.post(str(response.url.join(form.action)), data=data)
        location = str(answer.url.join(answer.headers["location"]))
        if "/relink/oauth/callback" in location:
            break
        response = http.get(location)
    chosen = pages.follow(http.get(location))

    ibans = [a.iban for a in accounts_for(ASPSPS_BY_KEY["psd2_redirect"], username)]
    assert ibans[0][-4:] in text_of(chosen)
    pages.choose_accounts(*ibans)
    assert pages.post("consent").headers["location"] == RETURN_URL
    session = retrieve_session(client, created.id)
    assert session.status == "succeeded"
    assert sorted(a.last4 for a in session.accounts.data) == sorted(i[-4:] for i in ibans)
    for account in session.accounts.data:
        assert_valid(account.to_dict(), "financial_connections.account")
        assert account.status_details.active.expected_deactivation_date
