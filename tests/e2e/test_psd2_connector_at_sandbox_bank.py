"""The production `nextgenpsd2` connector against the sandbox bank in its own process,
over mutual TLS (certificates made here), every exchange checked against the reference:
link, read, relink by IBAN, the old consent ended, revoke and expiry at the bank."""

from __future__ import annotations

import ssl
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import trustme

from relink.connectors.base import AccessDenied, AccessExpired, Grant, PsuContext, Redirect
from relink.connectors.nextgenpsd2.config import Psd2Settings
from relink.connectors.nextgenpsd2.connector import NextGenPsd2Connector
from relink.sandbox_bank import TlsFiles
from relink.sandbox_bank.psd2.aspsps import ASPSPS_BY_KEY
from relink.sandbox_bank.psd2.data import accounts_for
from relink.sandbox_bank.testing import BankProcess, free_port
from tests.sandbox_bank.psd2.contract import validate_request, validate_response
from tests.sandbox_bank.psd2.tpp import authorise_in_pages

CALLBACK = "https://relink.test/relink/oauth/callback"
REDIRECT = ASPSPS_BY_KEY["psd2_redirect"]


@dataclass(frozen=True)
class Bank:
    api: str
    pages: str
    server_ca: Path
    tpp_cert: Path


@pytest.fixture(scope="module")
def bank(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bank]:
    folder = tmp_path_factory.mktemp("psd2-e2e")
    server_ca, tpp_ca = trustme.CA(), trustme.CA()
    server = server_ca.issue_cert("127.0.0.1")
    paths = {name: folder / f"{name}.pem" for name in ("ca", "cert", "key", "tpp_ca", "tpp")}
    server_ca.cert_pem.write_to_path(paths["ca"])
    server.cert_chain_pems[0].write_to_path(paths["cert"])
    server.private_key_pem.write_to_path(paths["key"])
    tpp_ca.cert_pem.write_to_path(paths["tpp_ca"])
    tpp_ca.issue_cert("relink.test").private_key_and_cert_chain_pem.write_to_path(paths["tpp"])
    tls = TlsFiles(str(paths["cert"]), str(paths["key"]), str(paths["tpp_ca"]))
    with BankProcess(folder / "bank.db", tls=tls, pages_port=free_port()) as process:
        yield Bank(process.base_url, process.pages_url, paths["ca"], paths["tpp"])


def _tpp_http(bank: Bank) -> httpx.Client:
    """The connector's client: Relink's certificate, every exchange contract-checked."""
    server = f"{bank.api}/psd2"

    def check_request(request: httpx.Request) -> None:
        if str(request.url).startswith(server + "/v1/"):
            validate_request(request, server)

    def check_response(response: httpx.Response) -> None:
        if str(response.request.url).startswith(server + "/v1/"):
            validate_response(response, server)

    context = ssl.create_default_context(cafile=str(bank.server_ca))
    context.load_cert_chain(str(bank.tpp_cert))
    return httpx.Client(
        verify=context, event_hooks={"request": [check_request], "response": [check_response]}
    )


@pytest.fixture
def tpp_http(bank: Bank) -> Iterator[httpx.Client]:
    with _tpp_http(bank) as client:
        yield client


@pytest.fixture
def browser(bank: Bank) -> Iterator[httpx.Client]:
    """The holder's browser: trusts the bank, has no client certificate."""
    context = ssl.create_default_context(cafile=str(bank.server_ca))
    with httpx.Client(verify=context, timeout=10) as client:
        yield client


def _connector(bank: Bank, http: httpx.Client, *, present: bool) -> NextGenPsd2Connector:
    settings = Psd2Settings(base_url=f"{bank.api}/psd2", country="DE", bic=REDIRECT.bic)
    return NextGenPsd2Connector(
        settings,
        http=http,
        now=lambda: datetime.now(UTC),
        psu=PsuContext("198.51.100.7", "Mozilla/5.0", "de-DE") if present else None,
    )


def _link(
    bank: Bank, http: httpx.Client, browser: httpx.Client, username: str, ibans: list[str]
) -> Grant:
    holder = _connector(bank, http, present=True)
    started = holder.begin_auth(state="st-1", redirect_uri=CALLBACK, accounts=ibans)
    assert isinstance(started, Redirect)
    back = authorise_in_pages(browser, started.url, username, tpp_host="relink.test")
    params = {k: v[0] for k, v in parse_qs(urlsplit(back).query).items()}
    grant = holder.complete_return(
        params=params, carried=started.carried, redirect_uri=CALLBACK, next_state="st-2"
    )
    assert isinstance(grant, Grant)
    return grant


def _consent_status(http: httpx.Client, bank: Bank, consent_id: str) -> str:
    answer = http.get(
        f"{bank.api}/psd2/v1/consents/{consent_id}/status",
        headers={"X-Request-ID": str(uuid.uuid4())},
    )
    return str(answer.json()["consentStatus"])


def _security_center_revoke(browser: httpx.Client, bank: Bank, username: str) -> None:
    from relink.sandbox_bank.testing import parse_forms

    page = browser.get(f"{bank.pages}/security-center")
    form = parse_forms(page.text)[0]
    signed_in = browser.post(
        str(page.url.join(form.action)),
        data={**form.fields, "institution": REDIRECT.key, "username": username},
        follow_redirects=True,
    )
    revoke = next(f for f in parse_forms(signed_in.text) if f.step == "revoke")
    browser.post(
        str(signed_in.url.join(revoke.action)), data=revoke.fields, follow_redirects=True
    ).raise_for_status()


def test_link_reads_the_holders_accounts_by_iban(
    bank: Bank, tpp_http: httpx.Client, browser: httpx.Client, username: str
) -> None:
    grant = _link(bank, tpp_http, browser, username, [])
    unattended = _connector(bank, tpp_http, present=False)

    accounts = unattended.list_accounts(grant)
    balance = unattended.refresh_balance(grant, accounts[0].stable_id)
    transactions = unattended.refresh_transactions(grant, accounts[0].stable_id)

    assert [a.stable_id for a in accounts] == [a.iban for a in accounts_for(REDIRECT, username)]
    assert balance.current
    assert all(t.amount for t in transactions)
    assert grant.expected_deactivation_date is not None


def test_relink_by_iban_keeps_the_account_and_the_old_consent_is_terminated(
    bank: Bank, tpp_http: httpx.Client, browser: httpx.Client, username: str
) -> None:
    old = _link(bank, tpp_http, browser, username, [])
    unattended = _connector(bank, tpp_http, present=False)
    iban = unattended.list_accounts(old)[0].stable_id

    new = _link(bank, tpp_http, browser, username, [iban])
    unattended.revoke(old)

    assert [a.stable_id for a in unattended.list_accounts(new)] == [iban]
    assert new.secrets["consent_id"] != old.secrets["consent_id"]
    assert _consent_status(tpp_http, bank, old.secrets["consent_id"]) == "terminatedByTpp"


def test_revoked_in_the_security_center_is_access_denied(
    bank: Bank, tpp_http: httpx.Client, browser: httpx.Client, username: str
) -> None:
    grant = _link(bank, tpp_http, browser, username, [])

    _security_center_revoke(browser, bank, username)

    with pytest.raises(AccessDenied):
        _connector(bank, tpp_http, present=False).list_accounts(grant)


def test_past_valid_until_by_the_bank_clock_is_access_expired(
    bank: Bank, tpp_http: httpx.Client, browser: httpx.Client, username: str
) -> None:
    grant = _link(bank, tpp_http, browser, username, [])
    expiry = grant.expected_deactivation_date
    assert expiry is not None

    tpp_http.put(f"{bank.api}/psd2/sandbox/clock", json={"now": int(expiry.timestamp()) + 60})
    try:
        with pytest.raises(AccessExpired):
            _connector(bank, tpp_http, present=False).list_accounts(grant)
    finally:
        tpp_http.put(f"{bank.api}/psd2/sandbox/clock", json={"now": None})


def test_decoupled_link_completes_when_approved_in_the_security_center(
    bank: Bank, browser: httpx.Client, username: str
) -> None:
    from relink.connectors.base import Waiting
    from relink.sandbox_bank.testing import parse_forms

    server = f"{bank.api}/psd2/decoupled"
    with _tpp_http(bank) as http:
        http.event_hooks = {
            "request": [lambda r: validate_request(r, server) if "/v1/" in r.url.path else None],
            "response": [lambda r: validate_response(r, server)],
        }
        settings = Psd2Settings(
            base_url=server, country="DE", bic=ASPSPS_BY_KEY["psd2_decoupled"].bic,
            sca_approaches=("decoupled",),
        )  # fmt: skip
        holder = NextGenPsd2Connector(
            settings, http=http, now=lambda: datetime.now(UTC), psu=PsuContext("198.51.100.7")
        )
        started = holder.begin_auth(state="st-1", redirect_uri=CALLBACK)
        assert isinstance(started, Waiting)
        before = holder.poll(carried=started.carried)

        page = browser.get(f"{bank.pages}/security-center")
        form = parse_forms(page.text)[0]
        signed_in = browser.post(
            str(page.url.join(form.action)),
            data={**form.fields, "institution": "psd2_decoupled", "username": username},
            follow_redirects=True,
        )
        approve = next(f for f in parse_forms(signed_in.text) if f.step == "approve")
        browser.post(
            str(signed_in.url.join(approve.action)),
            data={
                **approve.fields,
                "decision": "approve",
                "account": [v for v, _ in approve.checkboxes["account"]],
            },
            follow_redirects=True,
        ).raise_for_status()
        after = holder.poll(carried=started.carried)

    assert isinstance(before, Waiting)
    assert isinstance(after, Grant)
