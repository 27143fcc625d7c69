"""The sandbox bank's PSD2 institutions through the production connector, over HTTP:
every request the connector sends and every answer the bank gives are checked against
the Berlin Group's document."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest

from relink.connectors.base import (
    AccessExpired,
    Grant,
    InstitutionDown,
    PsuContext,
    Redirect,
    SignInCancelled,
    Waiting,
)
from relink.connectors.nextgenpsd2 import NextGenPsd2Connector
from relink.connectors.registry import CONNECTORS, Wiring
from relink.institutions.catalog import SANDBOX_CATALOG
from relink.sandbox_bank.psd2.aspsps import ASPSPS_BY_KEY
from relink.sandbox_bank.psd2.data import accounts_for
from tests.connectors.conftest import Clock
from tests.sandbox_bank.psd2.contract import validate_request, validate_response
from tests.sandbox_bank.psd2.tpp import authorise_in_pages

CALLBACK = "https://relink.test/relink/oauth/callback"
HOLDER = PsuContext(ip_address="198.51.100.7", user_agent="Firefox/140", accept_language="de")
SPECS = {spec.key: spec for spec in SANDBOX_CATALOG if spec.connector == "nextgenpsd2"}


def test_the_sandbox_catalog_has_the_four_psd2_banks() -> None:
    assert {spec.name for spec in SPECS.values()} == {
        "PSD2 Bank (Redirect)",
        "PSD2 Bank (OAuth)",
        "PSD2 Bank (Decoupled)",
        "PSD2 Bank (Down)",
    }
    for spec in SPECS.values():
        settings = {
            k: v.replace("{sandbox_bank_url}", "http://127.0.0.1:8000/sandbox-bank")
            if isinstance(v, str)
            else v
            for k, v in spec.connector_settings.items()
        }
        CONNECTORS["nextgenpsd2"].check_settings(settings)


@pytest.fixture
def contract_http(bank_url: str) -> Iterator[httpx.Client]:
    """The connector's client, checking each exchange with an XS2A root of the bank."""

    def check(response: httpx.Response) -> None:
        url = str(response.request.url)
        for spec in SPECS.values():
            server = f"{bank_url}/{ASPSPS_BY_KEY[spec.key].path}"
            if url.startswith(server + "/v1/") and "/v1/" not in url[len(server) + 4 :]:
                validate_request(response.request, server)
                validate_response(response, server)
                return

    with httpx.Client(timeout=10, event_hooks={"response": [check]}) as client:
        yield client


def connector(
    key: str, bank_url: str, http: httpx.Client, clock: Clock, *, present: bool = True
) -> NextGenPsd2Connector:
    settings = {
        k: v.replace("{sandbox_bank_url}", bank_url) if isinstance(v, str) else v
        for k, v in SPECS[key].connector_settings.items()
    }
    built = CONNECTORS["nextgenpsd2"].build(
        settings, {}, Wiring(http=http, now=clock, psu=HOLDER if present else None)
    )
    assert isinstance(built, NextGenPsd2Connector)
    return built


def through_pages(url: str, username: str, *, cancel: bool = False) -> str:
    """The holder's browser on the bank's pages; where it is sent back to Relink."""
    with httpx.Client(timeout=10) as browser:
        return authorise_in_pages(
            browser, url, username, cancel=cancel, tpp_host=urlsplit(CALLBACK).netloc
        )


def _params(location: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(location).query))


def linked(
    key: str, bank_url: str, http: httpx.Client, clock: Clock, username: str
) -> tuple[NextGenPsd2Connector, Grant]:
    psd2 = connector(key, bank_url, http, clock)
    begun = psd2.begin_auth(state="s-1", redirect_uri=CALLBACK)
    assert isinstance(begun, Redirect)
    back = _params(through_pages(begun.url, username))
    grant = psd2.complete_return(
        params=back, carried=begun.carried, redirect_uri=CALLBACK, next_state="s-2"
    )
    if isinstance(grant, Redirect):  # the OAuth pre-step may still ask for SCA
        back = _params(through_pages(grant.url, username))
        grant = psd2.complete_return(
            params=back, carried=grant.carried, redirect_uri=CALLBACK, next_state="s-3"
        )
    assert isinstance(grant, Grant)
    return psd2, grant


@pytest.mark.parametrize("key", ["psd2_redirect", "psd2_oauth"])
def test_a_link_shares_the_holder_s_accounts_by_iban(
    key: str, bank_url: str, contract_http: httpx.Client, clock: Clock, username: str
) -> None:
    psd2, grant = linked(key, bank_url, contract_http, clock, username)

    accounts = psd2.list_accounts(grant)

    expected = [a.iban for a in accounts_for(ASPSPS_BY_KEY[key], username)]
    assert [a.stable_id for a in accounts] == expected
    assert grant.expected_deactivation_date is not None
    unattended = connector(key, bank_url, contract_http, clock, present=False)
    balance = unattended.refresh_balance(grant, expected[0])
    assert list(balance.current) == ["eur"]
    unattended.refresh_transactions(grant, expected[0], since=clock.now - dt.timedelta(days=30))


def test_cancelled_on_the_bank_s_pages_is_a_cancel(
    bank_url: str, contract_http: httpx.Client, clock: Clock, username: str
) -> None:
    psd2 = connector("psd2_redirect", bank_url, contract_http, clock)
    begun = psd2.begin_auth(state="s-1", redirect_uri=CALLBACK)
    assert isinstance(begun, Redirect)
    back = _params(through_pages(begun.url, username, cancel=True))

    with pytest.raises(SignInCancelled):
        psd2.complete_return(
            params=back, carried=begun.carried, redirect_uri=CALLBACK, next_state="s-2"
        )


def test_past_valid_until_by_the_sandbox_clock_the_consent_has_expired(
    bank_url: str, contract_http: httpx.Client, clock: Clock, username: str
) -> None:
    psd2, grant = linked("psd2_redirect", bank_url, contract_http, clock, username)
    [first, *_] = psd2.list_accounts(grant)
    clock.advance(days=91)

    with pytest.raises(AccessExpired):
        connector("psd2_redirect", bank_url, contract_http, clock, present=False).refresh_balance(
            grant, first.stable_id
        )


def test_disconnect_terminates_the_consent_at_the_sandbox_bank(
    bank_url: str, contract_http: httpx.Client, clock: Clock, username: str
) -> None:
    psd2, grant = linked("psd2_redirect", bank_url, contract_http, clock, username)

    psd2.revoke(grant)
    psd2.revoke(grant)  # again: no error

    status = contract_http.get(
        f"{bank_url}/psd2/v1/consents/{grant.secrets['consent_id']}/status",
        headers={"X-Request-ID": "7d4c9f5e-3b0f-4a53-9a8e-0a5b1e2c3d4f"},
    )
    assert status.json()["consentStatus"] == "terminatedByTpp"


def test_decoupled_waits_for_the_holder_s_app(
    bank_url: str, contract_http: httpx.Client, clock: Clock
) -> None:
    psd2 = connector("psd2_decoupled", bank_url, contract_http, clock)

    begun = psd2.begin_auth(state="s-1", redirect_uri=CALLBACK)

    assert isinstance(begun, Waiting)
    assert isinstance(psd2.poll(carried=begun.carried), Waiting)


def test_the_down_bank_is_down(bank_url: str, contract_http: httpx.Client, clock: Clock) -> None:
    with pytest.raises(InstitutionDown):
        connector("psd2_down", bank_url, contract_http, clock).begin_auth(
            state="s-1", redirect_uri=CALLBACK
        )
