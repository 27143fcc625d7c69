"""The security center: the holder sees the apps with access and revokes one."""

from __future__ import annotations

import httpx

from relink.sandbox_bank.testing import BankDriver, parse_forms


def sign_in(http: httpx.Client, institution: str, username: str) -> httpx.Response:
    form = parse_forms(http.get("security-center").text)[0]
    return http.post(
        form.action,
        data={**form.fields, "institution": institution, "username": username},
        follow_redirects=True,
    )


def test_security_center_lists_the_app_with_access(
    driver: BankDriver, http: httpx.Client, username: str
) -> None:
    driver.link_oauth("test_oauth", username)

    page = sign_in(http, "test_oauth", username)

    assert "Relink (sandbox)" in page.text
    assert "Revoke access" in page.text


def test_revoked_grant_answers_invalid_token_and_cannot_refresh(
    driver: BankDriver, http: httpx.Client, username: str
) -> None:
    tokens = driver.link_oauth("test_oauth", username)

    driver.revoke_in_security_center("test_oauth", username, "Relink (sandbox)")

    answer = http.get(
        "api/v1/accounts", headers={"Authorization": f"Bearer {tokens['access_token']}"}
    )
    assert answer.status_code == 401
    assert answer.json()["error"] == "invalid_token"
    assert answer.json()["error_reason"] == "consent_revoked"
    refresh = driver.refresh(str(tokens["refresh_token"]))
    assert refresh.status_code == 400
    assert refresh.json()["error"] == "invalid_grant"


def test_holder_cannot_revoke_another_holders_grant(
    driver: BankDriver, http: httpx.Client, username: str, bank_url: str
) -> None:
    driver.link_oauth("test_oauth", username)
    page = sign_in(http, "test_oauth", username)
    revoke = next(f for f in parse_forms(page.text) if f.step == "revoke")

    with httpx.Client(base_url=bank_url) as intruder:
        sign_in(intruder, "test_oauth", username + "-intruder")
        form = parse_forms(intruder.get("security-center").text)[0]
        response = intruder.post(revoke.action, data=form.fields)

    assert response.status_code == 404
    assert "Revoke access" in http.get("security-center").text
