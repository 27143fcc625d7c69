"""The OAuth2 pre-step, the decoupled approach and the holder's revocation."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import parse_qs, urlsplit

import httpx

from relink.sandbox_bank.psd2.aspsps import ASPSPS_BY_KEY
from relink.sandbox_bank.psd2.data import accounts_for
from relink.sandbox_bank.testing import new_pkce, parse_forms
from tests.sandbox_bank.psd2.conftest import Psd2Client
from tests.sandbox_bank.psd2.test_api import linked_consent
from tests.sandbox_bank.psd2.tpp import authorise_in_pages

REDIRECT_URI = "https://tpp.test/callback"


def security_center(browser: httpx.Client, bank: str, username: str) -> httpx.Response:
    form = parse_forms(browser.get("security-center").text)[0]
    return browser.post(
        form.action,
        data={**form.fields, "institution": bank, "username": username},
        follow_redirects=True,
    )


def press(browser: httpx.Client, page: httpx.Response, step: str, **data: str) -> httpx.Response:
    form = next(f for f in parse_forms(page.text) if f.step == step)
    fields: dict[str, str | list[str]] = {**form.fields, **data}
    if "account" in form.checkboxes:
        fields["account"] = [v for v, _ in form.checkboxes["account"]]
    return browser.post(str(page.url.join(form.action)), data=fields, follow_redirects=True)


def test_oauth_pre_step_token_makes_the_consent_valid_at_once(
    psd2: Callable[[str], Psd2Client], bank_url: str, username: str
) -> None:
    client = psd2("psd2/oauth")
    pkce = new_pkce()
    with httpx.Client(base_url=bank_url + "/", timeout=10) as browser:
        started = browser.get(
            "psd2/oauth/authorize",
            params={
                "response_type": "code", "client_id": "any-tpp", "redirect_uri": REDIRECT_URI,
                "state": "st", "scope": "AIS", "code_challenge": pkce.challenge,
                "code_challenge_method": "S256",
            },
        )  # fmt: skip
        back = authorise_in_pages(browser, started.headers["location"], username)
    query = {k: v[0] for k, v in parse_qs(urlsplit(back).query).items()}
    tokens = httpx.post(
        f"{bank_url}/psd2/oauth/token",
        data={
            "grant_type": "authorization_code", "code": query["code"], "client_id": "any-tpp",
            "redirect_uri": REDIRECT_URI, "code_verifier": pkce.verifier,
        },
    ).json()  # fmt: skip
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}

    created = client.create_consent(headers=client.headers(bearer))
    consent = created.json()["consentId"]
    without_token = client.get("/v1/accounts", consent=consent)
    with_token = client.http.get(
        "/v1/accounts", headers={**client.headers(), **bearer, "Consent-ID": consent}
    )

    assert query["state"] == "st"
    assert created.json()["consentStatus"] == "valid"
    assert without_token.json()["tppMessages"][0]["code"] == "TOKEN_INVALID"
    ibans = [a.iban for a in accounts_for(ASPSPS_BY_KEY["psd2_oauth"], username)]
    assert [a["iban"] for a in with_token.json()["accounts"]] == ibans


def test_decoupled_consent_is_valid_once_approved_in_the_security_center(
    psd2: Callable[[str], Psd2Client], bank_url: str, username: str
) -> None:
    client = psd2("psd2/decoupled")
    created = client.create_consent(headers=client.headers({"PSU-ID": username}))
    sca_link = created.json()["_links"]["scaStatus"]["href"]
    waiting = client.http.get(sca_link, headers=client.headers()).json()["scaStatus"]

    with httpx.Client(base_url=bank_url + "/", timeout=10) as browser:
        page = security_center(browser, "psd2_decoupled", username)
        press(browser, page, "approve", decision="approve")

    assert created.headers["ASPSP-SCA-Approach"] == "DECOUPLED"
    assert waiting == "started"
    assert client.http.get(sca_link, headers=client.headers()).json()["scaStatus"] == "finalised"
    status = client.get(f"/v1/consents/{created.json()['consentId']}/status")
    assert status.json()["consentStatus"] == "valid"


def test_decoupled_deny_rejects_the_consent(
    psd2: Callable[[str], Psd2Client], bank_url: str, username: str
) -> None:
    client = psd2("psd2/decoupled")
    created = client.create_consent(headers=client.headers({"PSU-ID": username}))

    with httpx.Client(base_url=bank_url + "/", timeout=10) as browser:
        press(browser, security_center(browser, "psd2_decoupled", username), "approve",
              decision="deny")  # fmt: skip

    status = client.get(f"/v1/consents/{created.json()['consentId']}/status")
    assert status.json()["consentStatus"] == "rejected"


def test_revoked_in_the_security_center_is_consent_invalid(
    psd2: Callable[[str], Psd2Client], bank_url: str, username: str
) -> None:
    client = psd2("psd2")
    consent = linked_consent(client, bank_url, username)

    with httpx.Client(base_url=bank_url + "/", timeout=10) as browser:
        page = security_center(browser, "psd2_redirect", username)
        after = press(browser, page, "revoke")

    assert "can no longer access" in after.text
    read = client.get("/v1/accounts", consent=consent, present=False)
    assert read.status_code == 401
    assert read.json()["tppMessages"][0]["code"] == "CONSENT_INVALID"
    status = client.get(f"/v1/consents/{consent}/status")
    assert status.json()["consentStatus"] == "revokedByPsu"


def _code(bank_url: str, username: str, challenge: str) -> str:
    with httpx.Client(base_url=bank_url + "/", timeout=10) as browser:
        started = browser.get(
            "psd2/oauth/authorize",
            params={
                "response_type": "code", "client_id": "any-tpp", "redirect_uri": REDIRECT_URI,
                "state": "st", "code_challenge": challenge, "code_challenge_method": "S256",
            },
        )  # fmt: skip
        back = authorise_in_pages(browser, started.headers["location"], username)
    return parse_qs(urlsplit(back).query)["code"][0]


def test_oauth_token_refuses_a_wrong_code_verifier_and_a_replayed_code(
    bank_url: str, username: str
) -> None:
    pkce, other = new_pkce(), new_pkce()
    code = _code(bank_url, username, pkce.challenge)
    form = {
        "grant_type": "authorization_code", "code": code, "client_id": "any-tpp",
        "redirect_uri": REDIRECT_URI,
    }  # fmt: skip

    wrong = httpx.post(
        f"{bank_url}/psd2/oauth/token", data={**form, "code_verifier": other.verifier}
    )
    right = httpx.post(
        f"{bank_url}/psd2/oauth/token", data={**form, "code_verifier": pkce.verifier}
    )
    again = httpx.post(
        f"{bank_url}/psd2/oauth/token", data={**form, "code_verifier": pkce.verifier}
    )

    assert (wrong.status_code, wrong.json()["error"]) == (400, "invalid_grant")
    assert right.status_code == 200
    assert (again.status_code, again.json()["error"]) == (400, "invalid_grant")


def test_oauth_authorize_without_pkce_returns_an_error_to_the_tpp(bank_url: str) -> None:
    answer = httpx.get(
        f"{bank_url}/psd2/oauth/authorize",
        params={"response_type": "code", "client_id": "c", "redirect_uri": REDIRECT_URI,
                "state": "st"},
    )  # fmt: skip

    location = answer.headers["location"]
    assert location.startswith(REDIRECT_URI)
    assert parse_qs(urlsplit(location).query)["error"] == ["invalid_request"]


def test_refused_sca_and_security_center_forms_answer_with_redirects(
    psd2: Callable[[str], Psd2Client], bank_url: str, username: str
) -> None:
    client = psd2("psd2/decoupled")
    created = client.create_consent(headers=client.headers({"PSU-ID": username}))
    with httpx.Client(base_url=bank_url + "/", timeout=10) as browser:
        page = security_center(browser, "psd2_decoupled", username)
        approve = next(f for f in parse_forms(page.text) if f.step == "approve")
        # Nothing chosen: not decided, and said so on the security center's page.
        undecided = browser.post(
            str(page.url.join(approve.action)), data={**approve.fields, "decision": "approve"}
        )
        forged = browser.post(str(page.url.join(approve.action)), data={"csrf_token": "x"})
        unknown = browser.post(
            str(page.url.join("security-center/psd2/consents/nope/revoke")), data=approve.fields
        )
        said = {
            answer.headers["location"].rsplit("=", 1)[1]: browser.get(answer.headers["location"])
            for answer in (undecided, forged, unknown)
        }
    assert list(said) == ["undecided", "form_expired", "unknown_consent"]
    assert "could not be decided" in said["undecided"].text
    assert "The form expired" in said["form_expired"].text
    assert "No such consent" in said["unknown_consent"].text
    status = client.get(f"/v1/consents/{created.json()['consentId']}/status")
    assert status.json()["consentStatus"] == "received"


def test_a_refused_sca_form_answers_with_a_redirect_to_its_page(
    psd2: Callable[[str], Psd2Client], bank_url: str, username: str
) -> None:
    client = psd2("psd2")
    created = client.create_consent()
    sca_url = created.json()["_links"]["scaRedirect"]["href"]
    with httpx.Client(timeout=10) as browser:
        page = browser.get(sca_url)
        form = next(f for f in parse_forms(page.text) if f.step == "login")
        forged = browser.post(str(page.url.join(form.action)), data={"csrf_token": "forged"})
        assert forged.headers["location"] == f"{sca_url}?notice=form_expired"
        shown = browser.get(forged.headers["location"])
        assert (shown.status_code, "The form expired" in shown.text) == (400, True)
        gone = browser.post(
            str(page.url.join(form.action)).replace("/sca/", "/sca/x"), data=form.fields
        )
        assert gone.status_code == 303
        assert browser.get(gone.headers["location"]).status_code == 404
