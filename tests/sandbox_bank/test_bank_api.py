"""The bearer-token bank API: accounts, balances, owners, transactions, TANs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from relink.sandbox_bank.data import accounts_for
from relink.sandbox_bank.institutions import INSTITUTIONS_BY_KEY
from relink.sandbox_bank.testing import BankDriver

TEST_NON_OAUTH = INSTITUTIONS_BY_KEY["test_non_oauth"]


def session(
    driver: BankDriver, username: str, institution: str = "test_non_oauth"
) -> dict[str, str]:
    token = driver.login(institution, username).json()["access_token"]
    return {"Authorization": f"Bearer {token}"}


def accounts(http: httpx.Client, auth: dict[str, str]) -> list[dict[str, Any]]:
    data: list[dict[str, Any]] = http.get("api/v1/accounts", headers=auth).json()["data"]
    return data


def test_same_institution_and_username_give_the_same_accounts(
    driver: BankDriver, http: httpx.Client, username: str
) -> None:
    first = accounts(http, session(driver, username))
    second = accounts(http, session(driver, username.upper()))
    other = accounts(http, session(driver, username + "-other"))

    assert first == second
    assert [a["id"] for a in first] != [a["id"] for a in other]


def test_accounts_are_the_predicted_ones(
    driver: BankDriver, http: httpx.Client, username: str
) -> None:
    listed = accounts(http, session(driver, username))

    predicted = accounts_for(TEST_NON_OAUTH, username)
    assert [(a["id"], a["last4"], a["subcategory"]) for a in listed] == [
        (p.id, p.last4, p.subcategory) for p in predicted
    ]
    assert [a["subcategory"] for a in listed] == ["checking", "savings", "credit_card"]
    assert {a["routing_number"] for a in listed} == {"110000000"}


def test_checking_account_number_is_its_real_number_and_transactable(
    driver: BankDriver, http: httpx.Client, username: str
) -> None:
    auth = session(driver, username)
    checking = accounts_for(TEST_NON_OAUTH, username)[0]

    tans = http.get(f"api/v1/accounts/{checking.id}/payment_networks", headers=auth).json()

    assert tans["data"] == [
        {
            "network": "ach",
            "account_number": checking.account_number,
            "routing_number": "110000000",
            "status": "transactable",
            "expected_expiry_date": None,
        }
    ]


def test_credit_card_has_no_ach_number(
    driver: BankDriver, http: httpx.Client, username: str
) -> None:
    auth = session(driver, username)
    card = accounts_for(TEST_NON_OAUTH, username)[2]

    tans = http.get(f"api/v1/accounts/{card.id}/payment_networks", headers=auth).json()

    assert tans["data"] == []


def test_balance_is_in_minor_units_as_of_the_sandbox_time(
    driver: BankDriver, http: httpx.Client, username: str, at: Callable[[int], dict[str, str]]
) -> None:
    auth = session(driver, username)
    checking = accounts_for(TEST_NON_OAUTH, username)[0]

    balance = http.get(
        f"api/v1/accounts/{checking.id}/balances", headers={**auth, **at(1_900_000_000)}
    ).json()

    assert balance["as_of"] == 1_900_000_000
    assert balance["current"] == {"usd": checking.balance_current}
    assert balance["type"] == "cash"


def test_owner_is_the_predicted_holder(
    driver: BankDriver, http: httpx.Client, username: str
) -> None:
    auth = session(driver, username)
    checking = accounts_for(TEST_NON_OAUTH, username)[0]

    owners = http.get(f"api/v1/accounts/{checking.id}/owners", headers=auth).json()["data"]

    assert [o["name"] for o in owners] == [checking.owner_name]


def test_transactions_are_the_same_for_the_same_now(
    driver: BankDriver, http: httpx.Client, username: str, at: Callable[[int], dict[str, str]]
) -> None:
    auth = session(driver, username)
    checking = accounts_for(TEST_NON_OAUTH, username)[0]
    url = f"api/v1/accounts/{checking.id}/transactions"

    first = http.get(url, headers={**auth, **at(1_800_000_000)}).json()["data"]
    second = http.get(url, headers={**auth, **at(1_800_000_000)}).json()["data"]

    assert first == second
    assert first
    assert all(t["transacted_at"] <= 1_800_000_000 for t in first)


def test_missing_bearer_token_is_401(http: httpx.Client) -> None:
    response = http.get("api/v1/accounts")
    assert response.status_code == 401
    assert "Bearer" in response.headers["www-authenticate"]


def test_expired_access_token_answers_invalid_token(
    driver: BankDriver, http: httpx.Client, username: str, at: Callable[[int], dict[str, str]]
) -> None:
    tokens = driver.link_oauth("test_oauth", username, headers=at(1_800_000_000))

    response = http.get(
        "api/v1/accounts",
        headers={"Authorization": f"Bearer {tokens['access_token']}", **at(1_800_003_600)},
    )

    assert response.status_code == 401
    assert response.json()["error"] == "invalid_token"
    assert response.json()["error_reason"] == "token_expired"


def test_account_not_shared_with_the_grant_is_404(
    driver: BankDriver, http: httpx.Client, username: str
) -> None:
    auth = session(driver, username)
    theirs = accounts_for(TEST_NON_OAUTH, username + "-x")[0]

    response = http.get(f"api/v1/accounts/{theirs.id}/balances", headers=auth)

    assert response.status_code == 404


def test_malformed_sandbox_time_is_400(http: httpx.Client) -> None:
    response = http.get("api/v1/institutions", headers={"Relink-Sandbox-Time": "soon"})
    assert response.status_code == 400
