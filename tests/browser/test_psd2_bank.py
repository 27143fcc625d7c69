"""The sandbox bank's PSD2 SCA pages in Chromium, JavaScript off: sign-in, SCA method,
one-time code, accounts, back to the TPP; cancel goes to the Nok URI."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from relink.sandbox_bank import create_sandbox_bank_app
from relink.sandbox_bank.testing import serve_in_thread
from tests.sandbox_bank.psd2.tpp import consent_body


def _tpp_page(request: Request) -> PlainTextResponse:
    return PlainTextResponse(f"Back at the TPP: {request.url.path}")


@pytest.fixture(scope="module")
def urls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    database = Path(tmp_path_factory.mktemp("psd2-pages")) / "bank.db"
    bank = create_sandbox_bank_app(f"sqlite:///{database}")
    tpp = Starlette(routes=[Route("/{outcome}", _tpp_page)])
    with serve_in_thread(bank) as bank_url, serve_in_thread(tpp) as tpp_url:
        yield bank_url, tpp_url
    bank.state.sandbox_bank.store.dispose()


@pytest.fixture
def page(dashboard_browser: Browser) -> Iterator[Page]:
    context = dashboard_browser.new_context(java_script_enabled=False)
    yield context.new_page()
    context.close()


def _consent(bank_url: str, tpp_url: str) -> tuple[str, str]:
    created = httpx.post(
        f"{bank_url}/psd2/v1/consents",
        json=consent_body(),
        headers={
            "X-Request-ID": str(uuid.uuid4()),
            "PSU-IP-Address": "198.51.100.7",
            "TPP-Redirect-URI": f"{tpp_url}/ok",
            "TPP-Nok-Redirect-URI": f"{tpp_url}/nok",
        },
    ).json()
    return str(created["consentId"]), str(created["_links"]["scaRedirect"]["href"])


def _status(bank_url: str, consent_id: str) -> str:
    answer = httpx.get(
        f"{bank_url}/psd2/v1/consents/{consent_id}/status",
        headers={"X-Request-ID": str(uuid.uuid4())},
    )
    return str(answer.json()["consentStatus"])


def test_holder_authorises_a_consent_in_the_pages(page: Page, urls: tuple[str, str]) -> None:
    bank_url, tpp_url = urls
    consent_id, sca = _consent(bank_url, tpp_url)

    page.goto(sca)
    page.get_by_label("Username").fill("erika")
    page.get_by_label("Password").fill("pw")
    page.get_by_role("button", name="Sign in").click()
    page.get_by_label("pushTAN in the banking app").check()
    page.get_by_role("button", name="Continue").click()
    page.get_by_label("One-time code").fill("000000")
    page.get_by_role("button", name="Confirm").click()
    wrong = page.get_by_role("alert").inner_text()
    page.get_by_label("One-time code").fill("123456")
    page.get_by_role("button", name="Confirm").click()
    page.get_by_label("Tagesgeld").uncheck()
    page.get_by_role("button", name="Allow access").click()

    assert "not correct" in wrong
    assert page.url == f"{tpp_url}/ok"
    assert _status(bank_url, consent_id) == "valid"
    shared = httpx.get(
        f"{bank_url}/psd2/v1/accounts",
        headers={"X-Request-ID": str(uuid.uuid4()), "Consent-ID": consent_id},
    ).json()["accounts"]
    assert [a["name"] for a in shared] == ["Girokonto"]


def test_cancel_rejects_the_consent_and_returns_to_the_nok_uri(
    page: Page, urls: tuple[str, str]
) -> None:
    bank_url, tpp_url = urls
    consent_id, sca = _consent(bank_url, tpp_url)

    page.goto(sca)
    page.get_by_role("button", name="Cancel").click()

    assert page.url == f"{tpp_url}/nok"
    assert _status(bank_url, consent_id) == "rejected"
