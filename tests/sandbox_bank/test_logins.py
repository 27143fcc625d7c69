"""The credential login API and its keyword-driven challenges."""

from __future__ import annotations

import httpx
import pytest

from relink.sandbox_bank.testing import BankDriver


def answer(http: httpx.Client, login_id: str, text: str) -> httpx.Response:
    return http.post(f"api/v1/logins/{login_id}/answer", json={"answer": text})


def test_test_non_oauth_accepts_any_password(driver: BankDriver, username: str) -> None:
    response = driver.login("test_non_oauth", username, "incorrect")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "authenticated"
    assert len(body["accounts"]) == 3


@pytest.mark.parametrize(
    ("password", "kind"),
    [
        ("mfa", "one_time_code"),
        ("confirm_mfa", "confirm_code"),
        ("my options", "options"),
        ("security_question", "security_question"),
    ],
)
def test_keyword_in_password_asks_its_challenge(
    driver: BankDriver, username: str, password: str, kind: str
) -> None:
    body = driver.login("bank_non_oauth", username, password).json()

    assert body["status"] == "challenge_required"
    assert body["challenge"]["kind"] == kind


def test_options_challenge_lists_options_and_accepts_any_of_them(
    driver: BankDriver, http: httpx.Client, username: str
) -> None:
    body = driver.login("bank_non_oauth", username, "options").json()
    options = body["challenge"]["options"]

    done = answer(http, body["login_id"], options[-1])

    assert len(options) == 3
    assert done.json()["status"] == "authenticated"


def test_incorrect_password_fails_and_a_retry_can_succeed(
    driver: BankDriver, username: str
) -> None:
    refused = driver.login("bank_non_oauth", username, "incorrect")
    retried = driver.login("bank_non_oauth", username, "good")

    assert refused.status_code == 401
    assert refused.json()["error"] == "invalid_credentials"
    assert retried.json()["status"] == "authenticated"


def test_error_password_ends_the_login_with_a_failure(driver: BankDriver, username: str) -> None:
    response = driver.login("bank_non_oauth", username, "error")

    assert response.status_code == 400
    assert response.json()["error"] == "login_failed"


def test_wrong_code_is_incorrect_and_the_same_challenge_can_be_retried(
    driver: BankDriver, http: httpx.Client, username: str
) -> None:
    login_id = driver.login("bank_non_oauth", username, "mfa").json()["login_id"]

    wrong = answer(http, login_id, "654321")
    right = answer(http, login_id, "123456")

    assert wrong.status_code == 401
    assert wrong.json()["error"] == "incorrect_answer"
    assert wrong.json()["challenge"]["kind"] == "one_time_code"
    assert right.json()["status"] == "authenticated"


def test_security_question_accepts_relink(
    driver: BankDriver, http: httpx.Client, username: str
) -> None:
    login_id = driver.login("bank_non_oauth", username, "security_question").json()["login_id"]

    assert answer(http, login_id, "Relink").json()["status"] == "authenticated"


def test_answer_with_a_keyword_asks_the_next_challenge(
    driver: BankDriver, http: httpx.Client, username: str
) -> None:
    login_id = driver.login("bank_non_oauth", username, "mfa").json()["login_id"]

    chained = answer(http, login_id, "security_question").json()

    assert chained["challenge"]["kind"] == "security_question"
    assert chained["login_id"] != login_id
    assert answer(http, chained["login_id"], "relink").json()["status"] == "authenticated"


def test_finished_login_cannot_be_answered_again(
    driver: BankDriver, http: httpx.Client, username: str
) -> None:
    login_id = driver.login("bank_non_oauth", username, "mfa").json()["login_id"]
    answer(http, login_id, "123456")

    assert answer(http, login_id, "123456").status_code == 404


def test_oauth_institution_refuses_credential_login(driver: BankDriver, username: str) -> None:
    assert driver.login("test_oauth", username).status_code == 400
