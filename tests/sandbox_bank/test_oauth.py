"""The OAuth2 authorization server: authorize pages, token endpoint, revocation."""

from __future__ import annotations

import httpx

from relink.sandbox_bank.data import accounts_for
from relink.sandbox_bank.institutions import INSTITUTIONS_BY_KEY
from relink.sandbox_bank.testing import (
    BankDriver,
    authorize_in_bank,
    new_pkce,
    parse_forms,
    query_of,
)


def bearer(tokens: dict[str, object]) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens['access_token']}"}


def test_code_with_pkce_gives_tokens_that_read_the_shared_accounts(
    driver: BankDriver, http: httpx.Client, username: str
) -> None:
    tokens = driver.link_oauth("test_oauth", username)

    assert tokens["token_type"] == "Bearer"
    assert tokens["expires_in"] == 3600
    assert str(tokens["refresh_token"]).startswith("sbrt_")
    expected = [a.id for a in accounts_for(INSTITUTIONS_BY_KEY["test_oauth"], username)]
    listed = http.get("api/v1/accounts", headers=bearer(tokens)).json()["data"]
    assert [a["id"] for a in listed] == expected


def test_callback_carries_the_state_back(driver: BankDriver, username: str) -> None:
    pkce = new_pkce()
    back = authorize_in_bank(
        driver.http,
        driver.authorize_url("test_oauth", pkce, state="xyz-42"),
        username=username,
        password="pw",
    )
    assert back.startswith(driver.redirect_uri)
    assert query_of(back)["state"] == "xyz-42"


def test_wrong_code_verifier_is_refused(driver: BankDriver, username: str) -> None:
    pkce = new_pkce()
    code = driver.authorization_code("test_oauth", username, pkce)

    response = driver.exchange(code, new_pkce())

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


def test_code_is_bound_to_its_redirect_uri(driver: BankDriver, username: str) -> None:
    pkce = new_pkce()
    code = driver.authorization_code("test_oauth", username, pkce)

    other = BankDriver(driver.http, redirect_uri="http://127.0.0.1:9/elsewhere")
    response = other.exchange(code, pkce)

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


def test_replayed_code_is_refused_and_revokes_its_grant(
    driver: BankDriver, http: httpx.Client, username: str
) -> None:
    pkce = new_pkce()
    code = driver.authorization_code("test_oauth", username, pkce)
    first = driver.exchange(code, pkce).json()

    replay = driver.exchange(code, pkce)

    assert replay.status_code == 400
    assert http.get("api/v1/accounts", headers=bearer(first)).status_code == 401


def test_refresh_token_gives_a_new_working_access_token(
    driver: BankDriver, http: httpx.Client, username: str
) -> None:
    tokens = driver.link_oauth("test_oauth", username)

    refreshed = driver.refresh(str(tokens["refresh_token"]))

    assert refreshed.status_code == 200
    new = refreshed.json()
    assert new["access_token"] != tokens["access_token"]
    assert http.get("api/v1/accounts", headers=bearer(new)).status_code == 200


def test_token_endpoint_refuses_a_wrong_client_secret(driver: BankDriver) -> None:
    response = driver.http.post(
        "oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": "x"},
        auth=("relink-sandbox", "wrong"),
    )
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


def test_authorize_without_s256_pkce_returns_invalid_request(driver: BankDriver) -> None:
    url = driver.authorize_url("test_oauth", new_pkce(), code_challenge_method="plain")

    response = driver.http.get(url)

    assert response.status_code == 303
    assert query_of(response.headers["location"])["error"] == "invalid_request"


def test_authorize_for_a_credential_institution_returns_invalid_request(
    driver: BankDriver,
) -> None:
    response = driver.http.get(driver.authorize_url("test_non_oauth", new_pkce()))

    assert response.status_code == 303
    assert query_of(response.headers["location"])["error"] == "invalid_request"


def test_registered_client_cannot_return_to_an_unregistered_uri(http: httpx.Client) -> None:
    registered = http.post(
        "sandbox/clients",
        json={"name": "Shop", "redirect_uris": ["https://shop.example/callback"]},
        auth=("relink-sandbox", "relink-sandbox-secret"),
    ).json()
    driver = BankDriver(
        http,
        client_id=registered["client_id"],
        client_secret=registered["client_secret"],
        redirect_uri="https://evil.example/callback",
    )

    response = http.get(driver.authorize_url("test_oauth", new_pkce()))

    assert response.status_code == 400
    assert "location" not in response.headers
    assert "does not allow" in response.text


def test_denied_consent_returns_access_denied(driver: BankDriver, username: str) -> None:
    back = authorize_in_bank(
        driver.http,
        driver.authorize_url("test_oauth", new_pkce()),
        username=username,
        password="pw",
        allow=False,
    )
    assert query_of(back)["error"] == "access_denied"


def test_mfa_page_refuses_a_wrong_code_then_accepts_123456(
    driver: BankDriver, username: str
) -> None:
    back = authorize_in_bank(
        driver.http,
        driver.authorize_url("bank_oauth", new_pkce()),
        username=username,
        password="please mfa",
        answers=["000000", "123456"],
        accounts=[accounts_for(INSTITUTIONS_BY_KEY["bank_oauth"], username)[0].id],
    )
    assert "code" in query_of(back)


def test_bank_oauth_picker_starts_unchecked_and_shares_only_the_chosen_accounts(
    driver: BankDriver, http: httpx.Client, username: str
) -> None:
    held = accounts_for(INSTITUTIONS_BY_KEY["bank_oauth"], username)
    login = http.get(driver.authorize_url("bank_oauth", new_pkce()), follow_redirects=True)
    form = parse_forms(login.text)[0]
    picker = http.post(
        form.action,
        data={**form.fields, "username": username, "password": "pw"},
        follow_redirects=True,
    )
    boxes = parse_forms(picker.text)[0].checkboxes["account"]
    assert [on for _, on in boxes] == [False] * len(held)

    tokens = driver.link_oauth("bank_oauth", username, accounts=[held[1].id, held[3].id])

    assert tokens["accounts"] == [held[1].id, held[3].id]


def test_failing_keyword_in_oauth_password_returns_server_error(
    driver: BankDriver, username: str
) -> None:
    back = authorize_in_bank(
        driver.http,
        driver.authorize_url("bank_oauth", new_pkce()),
        username=username,
        password="error",
    )
    assert query_of(back)["error"] == "server_error"


def test_revocation_endpoint_ends_the_grant(
    driver: BankDriver, http: httpx.Client, username: str
) -> None:
    tokens = driver.link_oauth("test_oauth", username)

    revoked = http.post(
        "oauth/revoke", data={"token": tokens["refresh_token"]}, auth=driver.client_auth
    )

    assert revoked.status_code == 200
    answer = http.get("api/v1/accounts", headers=bearer(tokens))
    assert answer.status_code == 401
    assert answer.json()["error"] == "invalid_token"
    refresh = driver.refresh(str(tokens["refresh_token"]))
    assert refresh.json()["error"] == "invalid_grant"


def test_metadata_names_the_endpoints_under_the_request_base(
    http: httpx.Client, bank_url: str
) -> None:
    metadata = http.get(".well-known/oauth-authorization-server").json()
    assert metadata["token_endpoint"] == f"{bank_url}/oauth/token"
    assert metadata["code_challenge_methods_supported"] == ["S256"]


def test_the_built_in_client_returns_only_to_its_host_apps_callback(
    http: httpx.Client,
) -> None:
    # No open redirect: the bank's authorize page never sends a browser to an address its
    # host app did not give, even for the built-in sandbox client.
    driver = BankDriver(http, redirect_uri="https://evil.example/callback")

    response = http.get(driver.authorize_url("test_oauth", new_pkce()))

    assert response.status_code == 400
    assert "location" not in response.headers
    assert "does not allow" in response.text
