"""The bank's pages: CSRF, CSP, escaping, and working under a path prefix."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route

from relink.sandbox_bank import create_sandbox_bank_app
from relink.sandbox_bank.testing import (
    TEST_REDIRECT_URI,
    BankDriver,
    new_pkce,
    parse_forms,
    serve_in_thread,
)


def test_form_post_without_the_csrf_token_is_refused(
    driver: BankDriver, http: httpx.Client, username: str
) -> None:
    page = http.get(driver.authorize_url("test_oauth", new_pkce()))
    form = parse_forms(page.text)[0]

    response = http.post(
        form.action,
        data={**form.fields, "csrf_token": "forged", "username": username, "password": "pw"},
    )

    assert response.status_code == 403


def test_form_post_without_the_csrf_cookie_is_refused(
    driver: BankDriver, bank_url: str, username: str
) -> None:
    with httpx.Client(base_url=bank_url) as browser, httpx.Client(base_url=bank_url) as other:
        form = parse_forms(browser.get(driver.authorize_url("test_oauth", new_pkce())).text)[0]
        response = other.post(
            form.action, data={**form.fields, "username": username, "password": "pw"}
        )
    assert response.status_code == 403


def test_authorize_pages_allow_forms_to_reach_only_the_bank_and_the_app(
    driver: BankDriver, http: httpx.Client
) -> None:
    page = http.get(driver.authorize_url("test_oauth", new_pkce()))

    csp = page.headers["content-security-policy"]
    assert "default-src 'none'" in csp
    assert "frame-ancestors 'none'" in csp
    assert "form-action 'self' http://127.0.0.1:9;" in csp
    assert page.headers["x-frame-options"] == "DENY"


def test_user_supplied_text_is_escaped(http: httpx.Client) -> None:
    page = http.get("security-center")
    form = parse_forms(page.text)[0]

    shown = http.post(
        form.action,
        data={**form.fields, "institution": "test_oauth", "username": "<script>x</script>"},
        follow_redirects=True,
    )

    assert "&lt;script&gt;x&lt;/script&gt;" in shown.text
    assert "<script>x" not in shown.text


@pytest.fixture(scope="module")
def mounted_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    database = Path(tmp_path_factory.mktemp("mounted")) / "bank.db"
    bank = create_sandbox_bank_app(
        f"sqlite:///{database}", public_url="http://host.test", redirect_uris=[TEST_REDIRECT_URI]
    )
    host = Starlette(
        routes=[
            Route("/", lambda request: PlainTextResponse("host")),
            Mount("/sandbox-bank", app=bank),
        ]
    )
    with serve_in_thread(host) as url:
        yield url
    bank.state.sandbox_bank.store.dispose()


def test_mounted_bank_links_forms_under_its_prefix(mounted_url: str, username: str) -> None:
    with httpx.Client(base_url=f"{mounted_url}/sandbox-bank") as http:
        driver = BankDriver(http)
        page = http.get(driver.authorize_url("test_oauth", new_pkce()))
        actions = [f.action for f in parse_forms(page.text)]
        cookie = page.headers["set-cookie"]

        tokens = driver.link_oauth("test_oauth", username)

    assert actions == [f"{mounted_url}/sandbox-bank/oauth/authorize/login"]
    assert "Path=/sandbox-bank/" in cookie
    assert 'href="' + mounted_url + '/sandbox-bank/static/bank.css"' in page.text
    assert str(tokens["access_token"]).startswith("sbat_")
