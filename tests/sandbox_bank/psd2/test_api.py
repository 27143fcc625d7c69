"""The PSD2 ASPSPs' XS2A API over HTTP; every answer validates against the reference."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from relink.sandbox_bank.psd2.aspsps import ASPSPS_BY_KEY
from relink.sandbox_bank.psd2.data import accounts_for
from tests.sandbox_bank.psd2.conftest import Psd2Client
from tests.sandbox_bank.psd2.tpp import authorise_in_pages

REDIRECT = ASPSPS_BY_KEY["psd2_redirect"]


def linked_consent(client: Psd2Client, bank_url: str, username: str) -> str:
    created = client.create_consent()
    with httpx.Client(timeout=10) as browser:
        authorise_in_pages(browser, created.json()["_links"]["scaRedirect"]["href"], username)
    return str(created.json()["consentId"])


def test_bank_offered_consent_is_valid_after_sca_with_the_chosen_accounts(
    psd2: Callable[[str], Psd2Client], bank_url: str, username: str
) -> None:
    client = psd2("psd2")
    created = client.create_consent()
    assert created.status_code == 201
    assert created.json()["consentStatus"] == "received"
    assert created.headers["ASPSP-SCA-Approach"] == "REDIRECT"

    with httpx.Client(timeout=10) as browser:
        back = authorise_in_pages(
            browser, created.json()["_links"]["scaRedirect"]["href"], username
        )

    consent_id = created.json()["consentId"]
    assert back == "https://tpp.test/ok?state=s1"
    assert client.get(f"/v1/consents/{consent_id}/status").json()["consentStatus"] == "valid"
    accounts = client.get("/v1/accounts", consent=consent_id).json()["accounts"]
    assert [a["iban"] for a in accounts] == [a.iban for a in accounts_for(REDIRECT, username)]


def test_cancel_at_the_bank_rejects_the_consent_and_returns_to_the_nok_uri(
    psd2: Callable[[str], Psd2Client], username: str
) -> None:
    client = psd2("psd2")
    created = client.create_consent()

    with httpx.Client(timeout=10) as browser:
        back = authorise_in_pages(
            browser, created.json()["_links"]["scaRedirect"]["href"], username, cancel=True
        )

    assert back == "https://tpp.test/nok?state=s1"
    status = client.get(f"/v1/consents/{created.json()['consentId']}/status")
    assert status.json()["consentStatus"] == "rejected"


def test_request_id_is_echoed_on_answers_and_errors(psd2: Callable[[str], Psd2Client]) -> None:
    client = psd2("psd2")
    headers = client.headers()

    answer = client.http.get("/v1/consents/nope/status", headers=headers)

    assert answer.status_code == 403
    assert answer.headers["X-Request-ID"] == headers["X-Request-ID"]
    assert answer.json()["tppMessages"][0]["code"] == "CONSENT_UNKNOWN"


def test_bad_consent_body_is_a_format_error_naming_the_field(
    psd2: Callable[[str], Psd2Client],
) -> None:
    client = psd2("psd2")

    answer = client.post_consent(
        {"access": {}, "recurringIndicator": "yes", "validUntil": "2030-01-01",
         "frequencyPerDay": 4, "combinedServiceIndicator": False}
    )  # fmt: skip

    assert answer.status_code == 400
    message = answer.json()["tppMessages"][0]
    assert (message["code"], message["path"]) == ("FORMAT_ERROR", "recurringIndicator")


def test_consent_request_without_psu_ip_address_is_refused(
    psd2: Callable[[str], Psd2Client],
) -> None:
    client = psd2("psd2")

    answer = client.create_consent(headers=client.headers(present=False))

    assert answer.status_code == 400
    assert answer.json()["tppMessages"][0]["path"] == "PSU-IP-Address"


def test_accounts_without_consent_id_is_a_format_error(psd2: Callable[[str], Psd2Client]) -> None:
    answer = psd2("psd2").get("/v1/accounts")

    assert answer.status_code == 400
    assert answer.json()["tppMessages"][0]["path"] == "Consent-ID"


def test_resource_ids_differ_per_consent_and_the_iban_stays(
    psd2: Callable[[str], Psd2Client], bank_url: str, username: str
) -> None:
    client = psd2("psd2")
    first, second = (linked_consent(client, bank_url, username) for _ in range(2))

    one = client.get("/v1/accounts", consent=first).json()["accounts"]
    two = client.get("/v1/accounts", consent=second).json()["accounts"]

    assert [a["iban"] for a in one] == [a["iban"] for a in two]
    assert not {a["resourceId"] for a in one} & {a["resourceId"] for a in two}


def test_balances_and_transactions_of_a_shared_account(
    psd2: Callable[[str], Psd2Client], bank_url: str, username: str
) -> None:
    client = psd2("psd2")
    consent = linked_consent(client, bank_url, username)
    account = client.get("/v1/accounts", consent=consent).json()["accounts"][0]["resourceId"]

    balances = client.get(f"/v1/accounts/{account}/balances", consent=consent)
    booked = client.get(
        f"/v1/accounts/{account}/transactions", consent=consent,
        bookingStatus="both", dateFrom="2000-01-01",
    )  # fmt: skip

    assert {b["balanceType"] for b in balances.json()["balances"]} == {
        "closingBooked",
        "interimAvailable",
    }
    assert booked.status_code == 200
    assert "booked" in booked.json()["transactions"]


def test_transactions_need_a_booking_status(
    psd2: Callable[[str], Psd2Client], bank_url: str, username: str
) -> None:
    client = psd2("psd2")
    consent = linked_consent(client, bank_url, username)
    account = client.get("/v1/accounts", consent=consent).json()["accounts"][0]["resourceId"]

    answer = client.get(f"/v1/accounts/{account}/transactions", consent=consent)

    assert answer.status_code == 400
    assert answer.json()["tppMessages"][0]["path"] == "bookingStatus"


def test_unattended_reads_past_frequency_per_day_are_access_exceeded(
    psd2: Callable[[str], Psd2Client], bank_url: str, username: str
) -> None:
    client = psd2("psd2")
    created = client.create_consent(frequency=2)
    with httpx.Client(timeout=10) as browser:
        authorise_in_pages(browser, created.json()["_links"]["scaRedirect"]["href"], username)
    consent = created.json()["consentId"]

    answers = [client.get("/v1/accounts", consent=consent, present=False) for _ in range(3)]
    present = client.get("/v1/accounts", consent=consent)

    assert [a.status_code for a in answers] == [200, 200, 429]
    assert answers[2].json()["tppMessages"][0]["code"] == "ACCESS_EXCEEDED"
    assert present.status_code == 200  # the PSU's own reads are not limited


def test_consent_expires_when_the_bank_clock_passes_valid_until(
    psd2: Callable[[str], Psd2Client], bank_url: str, username: str
) -> None:
    client = psd2("psd2")
    created = client.create_consent(valid_until="2030-01-31")
    with httpx.Client(timeout=10) as browser:
        authorise_in_pages(browser, created.json()["_links"]["scaRedirect"]["href"], username)
    consent = created.json()["consentId"]
    after = {"Relink-Sandbox-Time": str(1_896_134_400)}  # 2030-02-01

    read = client.http.get(
        "/v1/accounts", headers={**client.headers(), "Consent-ID": consent, **after}
    )
    status = client.http.get(
        f"/v1/consents/{consent}/status", headers={**client.headers(), **after}
    )

    assert read.status_code == 401
    assert read.json()["tppMessages"][0]["code"] == "CONSENT_EXPIRED"
    assert status.json()["consentStatus"] == "expired"


def test_delete_terminates_the_consent(
    psd2: Callable[[str], Psd2Client], bank_url: str, username: str
) -> None:
    client = psd2("psd2")
    consent = linked_consent(client, bank_url, username)

    deleted = client.http.delete(f"/v1/consents/{consent}", headers=client.headers(present=False))
    again = client.http.delete(f"/v1/consents/{consent}", headers=client.headers(present=False))

    assert deleted.status_code == 204
    assert again.status_code == 409
    assert client.get(f"/v1/consents/{consent}").json()["consentStatus"] == "terminatedByTpp"
    read = client.get("/v1/accounts", consent=consent)
    assert read.json()["tppMessages"][0]["code"] == "CONSENT_INVALID"


def test_relink_consent_for_ibans_covers_exactly_those(
    psd2: Callable[[str], Psd2Client], bank_url: str, username: str
) -> None:
    client = psd2("psd2")
    iban = accounts_for(REDIRECT, username)[1].iban
    created = client.create_consent([iban])
    with httpx.Client(timeout=10) as browser:
        authorise_in_pages(browser, created.json()["_links"]["scaRedirect"]["href"], username)

    accounts = client.get("/v1/accounts", consent=created.json()["consentId"]).json()["accounts"]

    assert [a["iban"] for a in accounts] == [iban]


def test_authorisations_list_and_sca_status(
    psd2: Callable[[str], Psd2Client], bank_url: str, username: str
) -> None:
    client = psd2("psd2")
    consent = linked_consent(client, bank_url, username)

    ids = client.get(f"/v1/consents/{consent}/authorisations").json()["authorisationIds"]
    status = client.get(f"/v1/consents/{consent}/authorisations/{ids[0]}")

    assert status.json()["scaStatus"] == "finalised"


def test_down_bank_answers_503_without_a_body(psd2: Callable[[str], Psd2Client]) -> None:
    client = psd2("psd2/down")

    answer = client.create_consent()

    assert answer.status_code == 503
    assert answer.headers["Retry-After"] == "3600"
    assert answer.content == b""
