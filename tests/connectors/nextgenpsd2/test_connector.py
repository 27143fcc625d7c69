"""The NextGenPSD2 connector against a stand-in bank, every exchange checked against the
Berlin Group's OpenAPI document."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from relink.connectors.base import (
    AccessDenied,
    AccessExpired,
    Grant,
    InstitutionDown,
    PsuContext,
    RateLimited,
    Redirect,
    SignInCancelled,
    Unexpected,
    Waiting,
)
from relink.connectors.nextgenpsd2 import NextGenPsd2Connector, Psd2Settings
from tests.connectors.nextgenpsd2.aspsp import BASE_URL, ContractTransport, StandInBank

CALLBACK = "https://relink.test/relink/oauth/callback"
NOW = dt.datetime(2027, 1, 15, 12, 0, tzinfo=dt.UTC)
HOLDER = PsuContext(ip_address="203.0.113.7", user_agent="Firefox/140", accept_language="de-DE")
IBAN = "DE02120300000000202051"


@pytest.fixture
def bank() -> StandInBank:
    return StandInBank()


@pytest.fixture
def transport(bank: StandInBank) -> ContractTransport:
    return ContractTransport(httpx.MockTransport(bank))


@pytest.fixture
def http(transport: ContractTransport) -> Iterator[httpx.Client]:
    with httpx.Client(transport=transport) as client:
        yield client


def connector(
    http: httpx.Client, *, psu: PsuContext | None = HOLDER, **settings: Any
) -> NextGenPsd2Connector:
    parsed = Psd2Settings.parse(
        {"base_url": BASE_URL, "country": "DE", "bic": "TESTDEFFXXX", **settings}
    )
    return NextGenPsd2Connector(parsed, http=http, now=lambda: NOW, psu=psu)


def link(http: httpx.Client, bank: StandInBank, **settings: Any) -> Grant:
    begun = connector(http, **settings).begin_auth(state="s-1", redirect_uri=CALLBACK)
    assert isinstance(begun, Redirect)
    bank.authorise(bank.last.id)
    done = connector(http, **settings).complete_return(
        params={"state": "s-1", "outcome": "ok"},
        carried=begun.carried,
        redirect_uri=CALLBACK,
        next_state="s-2",
    )
    assert isinstance(done, Grant)
    return done


def test_a_link_asks_for_a_consent_and_sends_the_holder_to_the_sca_redirect(
    http: httpx.Client, bank: StandInBank, transport: ContractTransport
) -> None:
    begun = connector(http, consent_valid_days=90, frequency_per_day=2).begin_auth(
        state="s-1", redirect_uri=CALLBACK
    )

    assert isinstance(begun, Redirect)
    consent = bank.last
    assert begun.url == f"https://bank.test/sca/{consent.id}"
    assert begun.carried["consent_id"] == consent.id
    assert consent.body["validUntil"] == "2027-04-15"
    assert consent.body["frequencyPerDay"] == 2
    assert consent.body["recurringIndicator"] is True
    [sent] = transport.requests
    assert sent.headers["PSU-IP-Address"] == "203.0.113.7"
    assert sent.headers["PSU-User-Agent"] == "Firefox/140"
    assert sent.headers["TPP-Redirect-Preferred"] == "true"


def test_the_redirect_uris_are_bound_to_the_flow_s_state(
    http: httpx.Client, bank: StandInBank
) -> None:
    connector(http).begin_auth(state="s-1", redirect_uri=CALLBACK)

    ok = urlsplit(bank.last.redirect_uri or "")
    nok = urlsplit(bank.last.nok_redirect_uri or "")
    assert f"{ok.scheme}://{ok.netloc}{ok.path}" == CALLBACK
    assert parse_qs(ok.query) == {"state": ["s-1"], "outcome": ["ok"]}
    assert parse_qs(nok.query) == {"state": ["s-1"], "outcome": ["nok"]}


def test_back_from_the_bank_a_valid_consent_is_a_grant_ending_with_valid_until(
    http: httpx.Client, bank: StandInBank
) -> None:
    grant = link(http, bank)

    assert grant.secrets["consent_id"] == bank.last.id
    assert grant.secrets["valid_until"] == "2027-04-15"
    assert grant.expected_deactivation_date == dt.datetime(2027, 4, 16, tzinfo=dt.UTC)


def test_a_consent_rejected_despite_an_ok_return_fails_the_link(
    http: httpx.Client, bank: StandInBank
) -> None:
    begun = connector(http).begin_auth(state="s-1", redirect_uri=CALLBACK)
    assert isinstance(begun, Redirect)
    bank.reject(bank.last.id)

    with pytest.raises(Unexpected, match="rejected"):
        connector(http).complete_return(
            params={"state": "s-1", "outcome": "ok"},
            carried=begun.carried,
            redirect_uri=CALLBACK,
            next_state="s-2",
        )


@pytest.mark.parametrize("rejected", [False, True])
def test_back_through_the_nok_uri_is_a_cancel(
    http: httpx.Client, bank: StandInBank, rejected: bool
) -> None:
    begun = connector(http).begin_auth(state="s-1", redirect_uri=CALLBACK)
    assert isinstance(begun, Redirect)
    if rejected:  # how banks mark a consent the holder cancelled
        bank.reject(bank.last.id)

    with pytest.raises(SignInCancelled):
        connector(http).complete_return(
            params={"state": "s-1", "outcome": "nok"},
            carried=begun.carried,
            redirect_uri=CALLBACK,
            next_state="s-2",
        )


def test_accounts_are_read_with_the_consent_and_keyed_by_iban(
    http: httpx.Client, bank: StandInBank, transport: ContractTransport
) -> None:
    grant = link(http, bank)

    accounts = connector(http).list_accounts(grant)

    assert [a.stable_id for a in accounts] == [IBAN, "DE02500105170137075030"]
    assert [(a.category, a.subcategory) for a in accounts] == [
        ("cash", "checking"),
        ("cash", "savings"),
    ]
    assert json.loads(grant.secrets["accounts"]) == {
        IBAN: "acc-1",
        "DE02500105170137075030": "acc-2",
    }
    assert transport.requests[-1].headers["Consent-ID"] == bank.last.id


def test_a_new_resource_id_for_the_same_iban_is_followed(
    http: httpx.Client, bank: StandInBank
) -> None:
    grant = link(http, bank)
    connector(http).list_accounts(grant)
    bank.accounts = {"new-9": {**bank.accounts["acc-1"], "resourceId": "new-9"}}

    balance = connector(http).refresh_balance(grant, IBAN)

    assert balance.current == {"eur": 125040}
    assert json.loads(grant.secrets["accounts"]) == {IBAN: "new-9"}


def test_balances_are_minor_units_booked_current_and_available(
    http: httpx.Client, bank: StandInBank
) -> None:
    grant = link(http, bank)

    balance = connector(http).refresh_balance(grant, IBAN)

    assert (balance.current, balance.available, balance.kind) == (
        {"eur": 125040},
        {"eur": 110000},
        "cash",
    )


def test_transactions_and_owners_are_read(http: httpx.Client, bank: StandInBank) -> None:
    grant = link(http, bank)

    [transaction] = connector(http).refresh_transactions(
        grant, IBAN, since=NOW - dt.timedelta(days=30)
    )
    owners = connector(http).refresh_ownership(grant, IBAN)

    assert (transaction.stable_id, transaction.amount, transaction.status) == (
        "t-1",
        -4200,
        "posted",
    )
    assert [o.name for o in owners] == ["Erika Mustermann"]


def test_every_request_has_a_fresh_request_id(
    http: httpx.Client, bank: StandInBank, transport: ContractTransport
) -> None:
    grant = link(http, bank)
    connector(http).list_accounts(grant)

    ids = [r.headers["X-Request-ID"] for r in transport.requests]
    assert len(ids) == len(set(ids)) >= 4


def test_unattended_reads_carry_no_psu_headers(
    http: httpx.Client, bank: StandInBank, transport: ContractTransport
) -> None:
    grant = link(http, bank)
    connector(http, psu=None).refresh_balance(grant, IBAN)

    unattended = transport.requests[-1]
    assert not [h for h in unattended.headers if h.lower().startswith("psu-")]


def test_no_consent_is_asked_for_without_the_holder(http: httpx.Client) -> None:
    with pytest.raises(Unexpected, match="holder"):
        connector(http, psu=None).begin_auth(state="s-1", redirect_uri=CALLBACK)


def test_unattended_reads_stop_at_frequency_per_day_until_the_next_utc_day(
    http: httpx.Client, bank: StandInBank, transport: ContractTransport
) -> None:
    grant = link(http, bank)
    connector(http).list_accounts(grant)
    unattended = connector(http, psu=None, frequency_per_day=2)
    unattended.refresh_balance(grant, IBAN)
    unattended.refresh_balance(grant, IBAN)
    asked = len(transport.requests)

    with pytest.raises(RateLimited) as limited:
        unattended.refresh_balance(grant, IBAN)

    assert len(transport.requests) == asked  # the bank was not asked a third time
    assert limited.value.retry_after == 12 * 3600 + 1
    unattended.refresh_transactions(grant, IBAN)  # another endpoint has its own count


def test_reads_while_the_holder_is_present_are_not_counted(
    http: httpx.Client, bank: StandInBank
) -> None:
    grant = link(http, bank)
    present = connector(http, frequency_per_day=1)
    for _ in range(3):
        present.refresh_balance(grant, IBAN)


@pytest.mark.parametrize(
    ("status", "error"),
    [("expired", AccessExpired), ("revokedByPsu", AccessDenied)],
)
def test_an_ended_consent_deactivates_by_why_it_ended(
    http: httpx.Client, bank: StandInBank, status: str, error: type[Exception]
) -> None:
    grant = link(http, bank)
    connector(http).list_accounts(grant)
    bank.last.status = status

    with pytest.raises(error):
        connector(http, psu=None).refresh_balance(grant, IBAN)


def test_access_exceeded_at_the_bank_is_a_rate_limit(http: httpx.Client, bank: StandInBank) -> None:
    grant = link(http, bank)
    connector(http).list_accounts(grant)
    bank.fail_next(
        "GET /v1/accounts/acc-1/balances",
        httpx.Response(
            429, json={"tppMessages": [{"category": "ERROR", "code": "ACCESS_EXCEEDED"}]}
        ),
    )

    with pytest.raises(RateLimited) as limited:
        connector(http, psu=None).refresh_balance(grant, IBAN)

    assert limited.value.bank_codes == ("ACCESS_EXCEEDED",)


@pytest.mark.parametrize("status", [500, 503])
def test_a_bank_that_fails_is_down(http: httpx.Client, bank: StandInBank, status: int) -> None:
    grant = link(http, bank)
    connector(http).list_accounts(grant)
    bank.fail_next("GET /v1/accounts", httpx.Response(status, headers={"Retry-After": "60"}))

    with pytest.raises(InstitutionDown) as down:
        connector(http, psu=None).refresh_balance(grant, IBAN)

    assert down.value.retry_after == 60


def test_a_timeout_is_the_bank_down() -> None:
    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    with httpx.Client(transport=httpx.MockTransport(slow)) as http, pytest.raises(InstitutionDown):
        connector(http).begin_auth(state="s-1", redirect_uri=CALLBACK)


def test_disconnect_deletes_the_consent_and_deleting_again_is_no_error(
    http: httpx.Client, bank: StandInBank
) -> None:
    grant = link(http, bank)

    connector(http, psu=None).revoke(grant)
    connector(http, psu=None).revoke(grant)

    assert bank.last.status == "terminatedByTpp"


def test_a_relink_asks_for_the_same_ibans(http: httpx.Client, bank: StandInBank) -> None:
    connector(http).begin_auth(state="s-1", redirect_uri=CALLBACK, accounts=[IBAN])

    assert bank.last.body["access"]["accounts"] == [{"iban": IBAN}]
    assert bank.last.body["access"]["balances"] == [{"iban": IBAN}]


def test_decoupled_waits_until_the_holder_approves_in_the_app(
    http: httpx.Client, bank: StandInBank, transport: ContractTransport
) -> None:
    bank.approach = "DECOUPLED"
    begun = connector(http, sca_approaches=["decoupled"]).begin_auth(
        state="s-1", redirect_uri=CALLBACK
    )
    assert isinstance(begun, Waiting)
    assert transport.requests[0].headers["TPP-Decoupled-Preferred"] == "true"

    still = connector(http).poll(carried=begun.carried)
    assert isinstance(still, Waiting)
    bank.authorise(bank.last.id)
    done = connector(http).poll(carried=still.carried)

    assert isinstance(done, Grant)
    assert done.secrets["consent_id"] == bank.last.id


def test_decoupled_refused_in_the_app_fails(http: httpx.Client, bank: StandInBank) -> None:
    bank.approach = "DECOUPLED"
    begun = connector(http, sca_approaches=["decoupled"]).begin_auth(
        state="s-1", redirect_uri=CALLBACK
    )
    assert isinstance(begun, Waiting)
    bank.reject(bank.last.id)

    with pytest.raises(Unexpected):
        connector(http).poll(carried=begun.carried)


OAUTH: dict[str, Any] = {
    "sca_approaches": ["oauth"],
    "oauth_authorize_url": "https://bank.test/authorize",
    "oauth_token_url": f"{BASE_URL}/oauth/token",
    "oauth_client_id": "PSDDE-BAFIN-123456",
}


def test_the_oauth_pre_step_signs_in_with_pkce_then_asks_for_the_consent_with_the_token(
    http: httpx.Client, bank: StandInBank, transport: ContractTransport
) -> None:
    begun = connector(http, **OAUTH).begin_auth(state="s-1", redirect_uri=CALLBACK)
    assert isinstance(begun, Redirect)
    query = {k: v[0] for k, v in parse_qs(urlsplit(begun.url).query).items()}
    assert begun.url.startswith("https://bank.test/authorize?")
    assert (query["state"], query["scope"], query["code_challenge_method"]) == (
        "s-1",
        "AIS",
        "S256",
    )
    assert not bank.consents  # no consent before the holder signed in
    bank.codes["code-1"] = query["code_challenge"]

    sca = connector(http, **OAUTH).complete_return(
        params={"state": "s-1", "code": "code-1"},
        carried=begun.carried,
        redirect_uri=CALLBACK,
        next_state="s-2",
    )

    assert isinstance(sca, Redirect)
    assert sca.state == "s-2"
    [exchange] = bank.token_requests
    assert exchange["code_verifier"] == [begun.code_verifier]
    assert exchange["client_id"] == ["PSDDE-BAFIN-123456"]
    assert bank.last.token == "at-1"
    assert parse_qs(urlsplit(bank.last.redirect_uri or "").query)["state"] == ["s-2"]
    bank.authorise(bank.last.id)
    grant = connector(http, **OAUTH).complete_return(
        params={"state": "s-2", "outcome": "ok"},
        carried=sca.carried,
        redirect_uri=CALLBACK,
        next_state="s-3",
    )
    assert isinstance(grant, Grant)
    assert grant.secrets["access_token"] == "at-1"
    [first, _] = connector(http, **OAUTH).list_accounts(grant)
    assert first.stable_id == IBAN


def test_the_oauth_pre_step_cancelled_at_the_bank_is_a_cancel(http: httpx.Client) -> None:
    begun = connector(http, **OAUTH).begin_auth(state="s-1", redirect_uri=CALLBACK)
    assert isinstance(begun, Redirect)

    with pytest.raises(SignInCancelled):
        connector(http, **OAUTH).complete_return(
            params={"state": "s-1", "error": "access_denied"},
            carried=begun.carried,
            redirect_uri=CALLBACK,
            next_state="s-2",
        )


def test_an_expired_oauth_token_is_refreshed_once_and_kept_in_the_grant(
    http: httpx.Client, bank: StandInBank
) -> None:
    grant = link(http, bank)
    consent = bank.last
    consent.token = "at-2"
    grant.replace_secrets(
        {
            **grant.secrets,
            "access_token": "at-1",
            "refresh_token": "rt-1",
            "access_expires_at": str(int(NOW.timestamp()) - 60),
        }
    )
    grant.mark_persisted()

    connector(http, psu=None, **OAUTH).list_accounts(grant)

    assert grant.rotated and grant.secrets["access_token"] == "at-2"


def test_a_consent_valid_at_once_after_the_oauth_pre_step_is_the_grant(
    http: httpx.Client, bank: StandInBank
) -> None:
    bank.valid_with_token = True
    begun = connector(http, **OAUTH).begin_auth(state="s-1", redirect_uri=CALLBACK)
    assert isinstance(begun, Redirect)
    bank.codes["code-1"] = "challenge"

    grant = connector(http, **OAUTH).complete_return(
        params={"state": "s-1", "code": "code-1"},
        carried=begun.carried,
        redirect_uri=CALLBACK,
        next_state="s-2",
    )

    assert isinstance(grant, Grant)
    assert grant.secrets["consent_id"] == bank.last.id


def test_a_sandbox_institution_tells_the_bank_relink_s_test_clock(
    http: httpx.Client, bank: StandInBank, transport: ContractTransport
) -> None:
    connector(http, sandbox_clock=True).begin_auth(state="s-1", redirect_uri=CALLBACK)
    connector(http).begin_auth(state="s-2", redirect_uri=CALLBACK)

    first, second = transport.requests
    assert first.headers["Relink-Sandbox-Time"] == str(int(NOW.timestamp()))
    assert "Relink-Sandbox-Time" not in second.headers
