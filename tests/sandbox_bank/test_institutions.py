"""The test institutions' behaviours."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from relink.sandbox_bank import SANDBOX_INSTITUTIONS
from relink.sandbox_bank.data import accounts_for
from relink.sandbox_bank.institutions import INSTITUTIONS_BY_KEY
from relink.sandbox_bank.testing import BankDriver

T0 = 1_800_000_000
DAY = 86_400
At = Callable[[int], dict[str, str]]


def auth(tokens: dict[str, Any], moment: int | None = None) -> dict[str, str]:
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    if moment is not None:
        headers["Relink-Sandbox-Time"] = str(moment)
    return headers


def ids(institution: str, username: str) -> list[str]:
    return [a.id for a in accounts_for(INSTITUTIONS_BY_KEY[institution], username)]


def tan(http: httpx.Client, tokens: dict[str, Any], account: str, moment: int) -> dict[str, Any]:
    body = http.get(
        f"api/v1/accounts/{account}/payment_networks", headers=auth(tokens, moment)
    ).json()
    data: list[dict[str, Any]] = body["data"]
    return data[0] if data else {}


def test_institution_keys_are_the_documented_ones() -> None:
    assert [i.key for i in SANDBOX_INSTITUTIONS] == [
        "test_non_oauth",
        "test_oauth",
        "bank_non_oauth",
        "bank_oauth",
        "tokenized_account_numbers",
        "inactive_accounts",
        "immediately_requires_reauth",
        "eventually_requires_reauth",
        "down_scheduled",
        "down_unscheduled",
        "down_error",
        "invalid_payment_accounts",
    ]


def test_tokenized_numbers_are_expired_expiring_and_short_lived_after_first_link(
    driver: BankDriver, http: httpx.Client, username: str, at: At
) -> None:
    tokens = driver.link_oauth("tokenized_account_numbers", username, headers=at(T0))
    expired, expiring, short = ids("tokenized_account_numbers", username)

    assert tan(http, tokens, expired, T0)["status"] == "expired"
    assert tan(http, tokens, expiring, T0)["expected_expiry_date"] == T0 + 30 * DAY
    assert tan(http, tokens, short, T0)["status"] == "transactable"
    assert tan(http, tokens, short, T0 + 301)["status"] == "expired"


def test_tokenized_relink_issues_a_fresh_transactable_number(
    driver: BankDriver, http: httpx.Client, username: str, at: At
) -> None:
    first = driver.link_oauth("tokenized_account_numbers", username, headers=at(T0))
    second = driver.link_oauth("tokenized_account_numbers", username, headers=at(T0 + DAY))
    expired = ids("tokenized_account_numbers", username)[0]

    old, new = tan(http, first, expired, T0), tan(http, second, expired, T0 + DAY)

    assert new["status"] == "transactable"
    assert new["expected_expiry_date"] == T0 + DAY + 365 * DAY
    assert new["account_number"] != old["account_number"]


def test_inactive_accounts_fail_the_first_refresh_with_consent_expired(
    driver: BankDriver, http: httpx.Client, username: str
) -> None:
    tokens = driver.login("inactive_accounts", username).json()
    checking = ids("inactive_accounts", username)[0]
    assert http.get("api/v1/accounts", headers=auth(tokens)).status_code == 200

    refresh = http.get(f"api/v1/accounts/{checking}/balances", headers=auth(tokens))
    after = http.get("api/v1/accounts", headers=auth(tokens))

    assert refresh.status_code == 401
    assert refresh.json()["error_reason"] == "consent_expired"
    assert after.json()["error_reason"] == "consent_expired"


def test_inactive_accounts_stay_active_after_a_fresh_authentication(
    driver: BankDriver, http: httpx.Client, username: str
) -> None:
    driver.login("inactive_accounts", username)
    again = driver.login("inactive_accounts", username).json()
    checking = ids("inactive_accounts", username)[0]

    refresh = http.get(f"api/v1/accounts/{checking}/balances", headers=auth(again))

    assert refresh.status_code == 200


def test_immediately_requires_reauth_reactivation_expires_one_day_later(
    driver: BankDriver, http: httpx.Client, username: str, at: At
) -> None:
    first = driver.link_oauth("immediately_requires_reauth", username, headers=at(T0))
    checking = ids("immediately_requires_reauth", username)[0]
    broke = http.get(f"api/v1/accounts/{checking}/owners", headers=auth(first, T0))

    again = driver.link_oauth("immediately_requires_reauth", username, headers=at(T0 + 60))
    before = http.get(f"api/v1/accounts/{checking}/owners", headers=auth(again, T0 + 120))
    after = http.get("api/v1/accounts", headers=auth(again, T0 + 60 + DAY))

    assert broke.json()["error_reason"] == "consent_expired"
    assert first["consent_expires_at"] is None
    assert again["consent_expires_at"] == T0 + 60 + DAY
    assert before.status_code == 200
    assert after.json()["error_reason"] == "consent_expired"


def test_eventually_requires_reauth_expires_30_days_after_authentication(
    driver: BankDriver, http: httpx.Client, username: str, at: At
) -> None:
    tokens = driver.link_oauth("eventually_requires_reauth", username, headers=at(T0))

    consent = http.get("api/v1/consent", headers=auth(tokens, T0)).json()
    refreshed = driver.refresh(tokens["refresh_token"], headers=at(T0 + 30 * DAY))

    assert tokens["consent_expires_at"] == T0 + 30 * DAY
    assert consent["expires_at"] == T0 + 30 * DAY
    assert refreshed.status_code == 400
    assert refreshed.json()["error_reason"] == "consent_expired"


def test_down_scheduled_answers_503_with_retry_after_and_the_window(
    driver: BankDriver, username: str, at: At
) -> None:
    response = driver.login("down_scheduled", username, headers=at(T0))

    window = response.json()["maintenance_window"]
    assert response.status_code == 503
    assert int(response.headers["retry-after"]) == window["ends_at"] - T0
    assert window["starts_at"] <= T0 < window["ends_at"]


def test_down_unscheduled_answers_503_without_a_window(driver: BankDriver, username: str) -> None:
    response = driver.login("down_unscheduled", username)

    assert response.status_code == 503
    assert "maintenance_window" not in response.json()
    assert "retry-after" not in response.headers


def test_down_error_answers_500(driver: BankDriver, username: str) -> None:
    assert driver.login("down_error", username).status_code == 500


def test_down_institution_refuses_api_calls_of_existing_grants(
    driver: BankDriver, http: httpx.Client, username: str
) -> None:
    tokens = http.post(
        "sandbox/grants",
        json={"institution": "down_unscheduled", "username": username},
        auth=driver.client_auth,
    ).json()

    assert http.get("api/v1/accounts", headers=auth(tokens)).status_code == 503


def test_institution_status_reports_scheduled_maintenance_as_inactive(
    http: httpx.Client,
) -> None:
    statuses = {i["key"]: i["status"] for i in http.get("api/v1/institutions").json()["data"]}

    assert statuses["down_scheduled"] == "inactive"
    assert statuses["down_unscheduled"] == "degraded"
    assert statuses["test_oauth"] == "active"


def test_invalid_payment_accounts_have_no_usable_ach_number(
    driver: BankDriver, http: httpx.Client, username: str
) -> None:
    tokens = driver.login("invalid_payment_accounts", username).json()
    no_ach, deactivated = ids("invalid_payment_accounts", username)

    assert tan(http, tokens, no_ach, T0) == {}
    assert tan(http, tokens, deactivated, T0)["status"] == "deactivated"


def _play(http: httpx.Client, driver: BankDriver, key: str, status: str) -> httpx.Response:
    return http.post(
        f"sandbox/institutions/{key}/outage", json={"status": status}, auth=driver.client_auth
    )


def _status(http: httpx.Client, key: str) -> str:
    status: str = http.get(f"api/v1/institutions/{key}").json()["status"]
    return status


def test_a_played_outage_takes_an_institution_down_and_back_up(
    driver: BankDriver, http: httpx.Client, username: str
) -> None:
    tokens = driver.login("test_non_oauth", username).json()
    try:
        assert _play(http, driver, "test_non_oauth", "inactive").status_code == 204
        assert _status(http, "test_non_oauth") == "inactive"
        assert driver.login("test_non_oauth", username).status_code == 503
        assert http.get("api/v1/accounts", headers=auth(tokens)).status_code == 503

        assert _play(http, driver, "test_non_oauth", "degraded").status_code == 204
        assert _status(http, "test_non_oauth") == "degraded"
        assert driver.login("test_non_oauth", username).status_code == 500
        listed = {i["key"]: i["status"] for i in http.get("api/v1/institutions").json()["data"]}
        assert listed["test_non_oauth"] == "degraded"
        assert listed["test_oauth"] == "active"
    finally:
        assert _play(http, driver, "test_non_oauth", "active").status_code == 204
    assert _status(http, "test_non_oauth") == "active"
    assert driver.login("test_non_oauth", username).status_code == 200
    assert http.get("api/v1/accounts", headers=auth(tokens)).status_code == 200


def test_an_outage_is_played_only_by_a_registered_client_and_with_a_known_status(
    driver: BankDriver, http: httpx.Client
) -> None:
    anonymous = http.post("sandbox/institutions/test_oauth/outage", json={"status": "inactive"})
    assert anonymous.status_code == 401
    assert _play(http, driver, "test_oauth", "exploded").status_code == 400
    assert _play(http, driver, "no_such_bank", "inactive").status_code == 400
    assert _status(http, "test_oauth") == "active"
