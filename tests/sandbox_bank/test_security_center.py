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
        response = intruder.post(revoke.action, data=form.fields, follow_redirects=True)

    assert "No such app has access to your accounts" in response.text
    assert "Revoke access" in http.get("security-center").text


def test_every_security_center_form_answers_with_a_redirect(
    driver: BankDriver, http: httpx.Client, username: str
) -> None:
    form = parse_forms(http.get("security-center").text)[0]
    for fields, problem in (
        ({**form.fields, "institution": "test_oauth", "username": ""}, "sign_in"),
        ({**form.fields, "csrf_token": "forged", "username": username}, "form_expired"),
    ):
        refused = http.post(form.action, data=fields)
        assert refused.headers["location"].endswith(f"/security-center?problem={problem}")
        page = http.get(refused.headers["location"])
        assert page.status_code == 400
        assert [f.step for f in parse_forms(page.text)] == ["security_center_login"]
    driver.link_oauth("test_oauth", username)
    signed_in = sign_in(http, "test_oauth", username)
    revoke = next(f for f in parse_forms(signed_in.text) if f.step == "revoke")
    revoked = http.post(revoke.action, data=revoke.fields)
    assert revoked.status_code == 303
    again = http.post(revoke.action, data={"csrf_token": "forged"})
    assert again.headers["location"].endswith("?problem=form_expired")
    assert "The form expired" in http.get(again.headers["location"]).text


def test_a_revoke_without_a_sign_in_asks_to_sign_in_again(
    driver: BankDriver, http: httpx.Client, username: str, bank_url: str
) -> None:
    driver.link_oauth("test_oauth", username)
    revoke = next(
        f for f in parse_forms(sign_in(http, "test_oauth", username).text) if f.step == "revoke"
    )
    with httpx.Client(base_url=bank_url) as stranger:
        form = parse_forms(stranger.get("security-center").text)[0]
        refused = stranger.post(revoke.action, data=form.fields)
        page = stranger.get(refused.headers["location"])
    assert refused.headers["location"].endswith("?problem=signed_out")
    assert (page.status_code, "Sign in again." in page.text) == (400, True)
    assert "Revoke access" in http.get("security-center").text
