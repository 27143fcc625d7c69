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
    page = http.get(driver.authorize_url("test_oauth", new_pkce()), follow_redirects=True)
    form = parse_forms(page.text)[0]

    response = http.post(
        form.action,
        data={**form.fields, "csrf_token": "forged", "username": username, "password": "pw"},
    )

    assert response.status_code == 303  # to the step's page, which says why
    shown = http.get(response.headers["location"])
    assert (shown.status_code, "The form expired" in shown.text) == (403, True)
    assert [f.step for f in parse_forms(shown.text)] == ["login"]  # not signed in


def test_authorize_answers_with_a_page_that_reloads_without_a_second_flow(
    driver: BankDriver, http: httpx.Client
) -> None:
    started = http.get(driver.authorize_url("test_oauth", new_pkce()))
    assert started.status_code == 303
    page, reloaded = (http.get(started.headers["location"]) for _ in range(2))
    assert (page.status_code, reloaded.status_code) == (200, 200)
    [form], [again] = parse_forms(page.text), parse_forms(reloaded.text)
    assert (form.step, again.fields["flow"]) == ("login", form.fields["flow"])
    assert page.headers["referrer-policy"] == "no-referrer"


def test_every_authorize_step_answers_with_a_redirect_to_its_flows_page(
    driver: BankDriver, http: httpx.Client, username: str
) -> None:
    page = http.get(driver.authorize_url("test_oauth", new_pkce()), follow_redirects=True)
    flow_page = str(page.url)
    form = parse_forms(page.text)[0]
    refused = http.post(form.action, data={**form.fields, "username": username, "password": ""})
    assert refused.headers["location"] == f"{flow_page}?error=missing_login"
    again = http.get(refused.headers["location"])
    assert (again.status_code, "Enter your username" in again.text) == (400, True)
    signed_in = http.post(form.action, data={**form.fields, "username": username, "password": "pw"})
    assert (signed_in.status_code, signed_in.headers["location"]) == (303, flow_page)
    # The login form sent again (Back, then resubmit) changes nothing: the flow's page
    # shows the step it is at.
    resent = http.post(form.action, data={**form.fields, "username": "x", "password": "pw"})
    assert resent.headers["location"] == flow_page
    assert [f.step for f in parse_forms(http.get(flow_page).text)] == ["accounts"]


def test_a_finished_sign_in_says_so_when_its_page_is_opened_again(
    driver: BankDriver, http: httpx.Client
) -> None:
    page = http.get(driver.authorize_url("test_oauth", new_pkce()), follow_redirects=True)
    form = parse_forms(page.text)[0]
    back = http.post(form.action, data={**form.fields, "action": "cancel"})
    assert back.headers["location"].startswith(TEST_REDIRECT_URI)
    finished = http.get(str(page.url))  # Back from the app
    assert (finished.status_code, "This sign-in is finished" in finished.text) == (200, True)
    assert parse_forms(finished.text) == []


def test_an_unknown_flow_page_says_the_sign_in_expired(http: httpx.Client) -> None:
    page = http.get("oauth/authorize/flow/sbflow_unknown")
    assert (page.status_code, "This sign-in has expired" in page.text) == (404, True)


def test_form_post_without_the_csrf_cookie_is_refused(
    driver: BankDriver, bank_url: str, username: str
) -> None:
    with httpx.Client(base_url=bank_url) as browser, httpx.Client(base_url=bank_url) as other:
        authorize = driver.authorize_url("test_oauth", new_pkce())
        form = parse_forms(browser.get(authorize, follow_redirects=True).text)[0]
        response = other.post(
            form.action,
            data={**form.fields, "username": username, "password": "pw"},
            follow_redirects=True,
        )
    assert (response.status_code, "The form expired" in response.text) == (403, True)


def test_authorize_pages_allow_forms_to_reach_only_the_bank_and_the_app(
    driver: BankDriver, http: httpx.Client
) -> None:
    page = http.get(driver.authorize_url("test_oauth", new_pkce()), follow_redirects=True)

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
        page = http.get(driver.authorize_url("test_oauth", new_pkce()), follow_redirects=True)
        actions = [f.action for f in parse_forms(page.text)]
        cookie = page.headers["set-cookie"]

        tokens = driver.link_oauth("test_oauth", username)

    assert actions == [f"{mounted_url}/sandbox-bank/oauth/authorize/login"]
    assert "Path=/sandbox-bank/" in cookie
    assert 'href="' + mounted_url + '/sandbox-bank/static/bank.css"' in page.text
    assert str(tokens["access_token"]).startswith("sbat_")


def test_a_step_form_without_its_flow_says_the_sign_in_expired(
    driver: BankDriver, http: httpx.Client
) -> None:
    page = http.get(driver.authorize_url("test_oauth", new_pkce()), follow_redirects=True)
    form = parse_forms(page.text)[0]
    answer = http.post(form.action, data={**form.fields, "flow": ""})
    assert (answer.status_code, "This sign-in has expired" in answer.text) == (400, True)
