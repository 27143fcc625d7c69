"""The contract check itself: it refuses what the NextGenPSD2 document does not allow, so
the contract tests that lean on it can fail."""

from __future__ import annotations

import uuid
from collections.abc import Mapping

import httpx
import pytest
from openapi_core.exceptions import OpenAPIError

from tests.sandbox_bank.psd2.contract import validate_exchange, validate_request
from tests.sandbox_bank.psd2.tpp import consent_body

SERVER = "https://xs2a.bank.test/psd2"
CONSENT = consent_body(valid_until="2027-05-30")


def consent_request(**headers: str) -> httpx.Request:
    return httpx.Request(
        "POST",
        f"{SERVER}/v1/consents",
        json=CONSENT,
        headers={"X-Request-ID": str(uuid.uuid4()), "PSU-IP-Address": "192.0.2.1", **headers},
    )


def created(body: Mapping[str, object]) -> httpx.Response:
    return httpx.Response(201, json=body, headers={"X-Request-ID": str(uuid.uuid4())})


def test_a_consent_request_and_its_answer_that_follow_the_document_pass() -> None:
    request = consent_request()
    validate_request(request, SERVER)
    answer = {
        "consentStatus": "received",
        "consentId": "c-1",
        "_links": {"scaRedirect": {"href": "https://bank.test/sca/c-1"}},
    }
    validate_exchange(request, created(answer), SERVER)


def test_a_consent_request_without_its_request_id_is_refused() -> None:
    request = consent_request()
    del request.headers["X-Request-ID"]
    with pytest.raises(OpenAPIError):
        validate_request(request, SERVER)


def test_a_consent_answer_without_its_consent_id_is_refused() -> None:
    answer = {"consentStatus": "received", "_links": {}}
    with pytest.raises(OpenAPIError):
        validate_exchange(consent_request(), created(answer), SERVER)


def test_an_error_answer_with_a_code_the_document_does_not_know_is_refused() -> None:
    request = httpx.Request(
        "GET", f"{SERVER}/v1/consents/c-1/status", headers={"X-Request-ID": str(uuid.uuid4())}
    )
    refused = httpx.Response(
        401,
        json={"tppMessages": [{"category": "ERROR", "code": "SESSION_GONE"}]},
        headers={"X-Request-ID": str(uuid.uuid4())},
    )
    with pytest.raises(OpenAPIError):
        validate_exchange(request, refused, SERVER)
    known = httpx.Response(
        401,
        json={"tppMessages": [{"category": "ERROR", "code": "CONSENT_EXPIRED"}]},
        headers={"X-Request-ID": str(uuid.uuid4())},
    )
    validate_exchange(request, known, SERVER)
