"""A stand-in NextGenPSD2 bank for connector tests, and the reference as a contract.

`ContractTransport` validates every request the connector sends and every answer it gets
against the Berlin Group's OpenAPI document with the contract of
tests/sandbox_bank/psd2/contract.py (openapi-core), the one the bank's own answers meet.
`StandInBank` answers like an ASPSP would, in memory, and lets a test decide what the
holder does at the bank and how the bank misbehaves.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from tests.sandbox_bank.psd2.contract import validate_exchange, validate_request

BASE_URL = "https://xs2a.bank.test/psd2"


class ContractTransport(httpx.BaseTransport):
    """Every exchange with the bank's XS2A API is checked against the reference."""

    def __init__(self, inner: httpx.BaseTransport, server: str = BASE_URL) -> None:
        self.inner = inner
        self.server = server
        self.requests: list[httpx.Request] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        checked = str(request.url).startswith(self.server + "/v1/")
        if checked:
            validate_request(request, self.server)
        response = self.inner.handle_request(request)
        response.read()
        if checked:
            validate_exchange(request, response, self.server)
        self.requests.append(request)
        return response


def _tpp(status: int, code: str) -> httpx.Response:
    body = {"tppMessages": [{"category": "ERROR", "code": code, "text": "Max Mustermann"}]}
    return httpx.Response(status, json=body)


@dataclass
class Consent:
    id: str
    body: dict[str, Any]
    status: str = "received"
    redirect_uri: str | None = None
    nok_redirect_uri: str | None = None
    authorisation: str | None = None
    sca_status: str = "received"
    token: str | None = None  # the OAuth2 pre-step's access token it was asked with


@dataclass
class StandInBank:
    """An ASPSP in memory. `accounts` are its holder's accounts (resourceId → details)."""

    approach: str = "REDIRECT"
    accounts: dict[str, dict[str, Any]] = field(
        default_factory=lambda: {
            "acc-1": {
                "resourceId": "acc-1",
                "iban": "DE02120300000000202051",
                "currency": "EUR",
                "cashAccountType": "CACC",
                "name": "Girokonto",
                "ownerName": "Erika Mustermann",
                "status": "enabled",
            },
            "acc-2": {
                "resourceId": "acc-2",
                "iban": "DE02500105170137075030",
                "currency": "EUR",
                "cashAccountType": "SVGS",
                "name": "Tagesgeld",
                "status": "enabled",
            },
        }
    )
    consents: dict[str, Consent] = field(default_factory=dict)
    # (method, path suffix) → a canned failure the next matching request gets
    failures: dict[str, httpx.Response] = field(default_factory=dict)
    seen_consent_ids: list[str] = field(default_factory=list)
    base_path: str = urlsplit(BASE_URL).path
    # The OAuth2 pre-step: codes the authorize page issued (code → PKCE challenge)
    codes: dict[str, str] = field(default_factory=dict)
    token_requests: list[dict[str, list[str]]] = field(default_factory=list)
    sca_pages: str = "https://bank.test/sca"
    # A bank whose OAuth2 pre-step was the SCA: consents asked with a token are valid at once.
    valid_with_token: bool = False

    # ------------------------------------------------------------------ what the holder does

    def authorise(self, consent_id: str) -> None:
        self.consents[consent_id].status = "valid"
        self.consents[consent_id].sca_status = "finalised"

    def reject(self, consent_id: str) -> None:
        self.consents[consent_id].status = "rejected"
        self.consents[consent_id].sca_status = "failed"

    def fail_next(self, what: str, response: httpx.Response) -> None:
        self.failures[what] = response

    @property
    def last(self) -> Consent:
        return list(self.consents.values())[-1]

    # ------------------------------------------------------------------ the API

    def __call__(self, request: httpx.Request) -> httpx.Response:
        response = self._answer(request)
        # Every answer echoes the request's id, errors included (the reference requires it).
        if "X-Request-ID" not in response.headers:
            response.headers["X-Request-ID"] = request.headers["X-Request-ID"]
        return response

    def _answer(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path.removeprefix(self.base_path)
        key = f"{request.method} {path}"
        for what, failure in list(self.failures.items()):
            if key.startswith(what):
                del self.failures[what]
                return failure
        parts = path.strip("/").split("/")
        headers = {"X-Request-ID": request.headers["X-Request-ID"]}
        if key == "POST /oauth/token":
            return self._token(request)
        if key == "POST /v1/consents":
            return self._create(request, headers)
        if parts[:2] == ["v1", "consents"] and len(parts) >= 3:
            consent = self.consents.get(parts[2])
            if consent is None:
                return _tpp(403, "CONSENT_UNKNOWN")
            return self._consent(request, consent, parts[3:], headers)
        if parts[:2] == ["v1", "accounts"]:
            return self._accounts(request, parts[2:], headers)
        return httpx.Response(404)

    def _token(self, request: httpx.Request) -> httpx.Response:
        form = parse_qs(request.content.decode())
        self.token_requests.append(form)
        if form.get("grant_type") == ["refresh_token"]:
            return httpx.Response(200, json={"access_token": "at-2", "expires_in": 3600})
        if form.get("code", [""])[0] not in self.codes:
            return httpx.Response(400, json={"error": "invalid_grant"})
        del self.codes[form["code"][0]]
        return httpx.Response(
            200, json={"access_token": "at-1", "refresh_token": "rt-1", "expires_in": 3600}
        )

    def _create(self, request: httpx.Request, headers: dict[str, str]) -> httpx.Response:
        consent = Consent(
            id=f"consent-{uuid.uuid4().hex[:12]}",
            body=json.loads(request.content),
            redirect_uri=request.headers.get("TPP-Redirect-URI"),
            nok_redirect_uri=request.headers.get("TPP-Nok-Redirect-URI"),
            token=request.headers.get("Authorization", "").removeprefix("Bearer ") or None,
        )
        self.consents[consent.id] = consent
        if self.valid_with_token and consent.token:
            consent.status = "valid"
            return httpx.Response(
                201,
                json={
                    "consentStatus": "valid",
                    "consentId": consent.id,
                    "_links": {"self": {"href": f"/v1/consents/{consent.id}"}},
                },
                headers={**headers, "ASPSP-SCA-Approach": self.approach},
            )
        links: dict[str, Any] = {
            "self": {"href": f"/v1/consents/{consent.id}"},
            "status": {"href": f"/v1/consents/{consent.id}/status"},
        }
        if self.approach == "DECOUPLED":
            links["startAuthorisation"] = {"href": f"/v1/consents/{consent.id}/authorisations"}
        else:
            links["scaRedirect"] = {"href": f"{self.sca_pages}/{consent.id}"}
        return httpx.Response(
            201,
            json={"consentStatus": "received", "consentId": consent.id, "_links": links},
            headers={
                **headers,
                "Location": f"{self.base_path}/v1/consents/{consent.id}",
                "ASPSP-SCA-Approach": self.approach,
            },
        )

    def _consent(
        self, request: httpx.Request, consent: Consent, rest: list[str], headers: dict[str, str]
    ) -> httpx.Response:
        if request.method == "DELETE" and not rest:
            if consent.status in ("terminatedByTpp", "expired"):
                return _tpp(409, "STATUS_INVALID")
            consent.status = "terminatedByTpp"
            return httpx.Response(204, headers=headers)
        if rest == ["status"]:
            return httpx.Response(200, json={"consentStatus": consent.status}, headers=headers)
        if not rest:
            body = {
                "access": consent.body["access"],
                "recurringIndicator": True,
                "validUntil": consent.body["validUntil"],
                "frequencyPerDay": consent.body["frequencyPerDay"],
                "lastActionDate": dt.date(2027, 1, 15).isoformat(),
                "consentStatus": consent.status,
            }
            return httpx.Response(200, json=body, headers=headers)
        if rest == ["authorisations"] and request.method == "POST":
            consent.authorisation = f"auth-{uuid.uuid4().hex[:8]}"
            consent.sca_status = "started"
            href = f"/v1/consents/{consent.id}/authorisations/{consent.authorisation}"
            return httpx.Response(
                201,
                json={
                    "scaStatus": "started",
                    "authorisationId": consent.authorisation,
                    "_links": {"scaStatus": {"href": href}},
                },
                headers={**headers, "ASPSP-SCA-Approach": self.approach},
            )
        if len(rest) == 2 and rest[0] == "authorisations":
            return httpx.Response(200, json={"scaStatus": consent.sca_status}, headers=headers)
        return httpx.Response(404)

    def _accounts(
        self, request: httpx.Request, rest: list[str], headers: dict[str, str]
    ) -> httpx.Response:
        consent = self.consents.get(request.headers.get("Consent-ID", ""))
        if consent is None:
            return _tpp(401, "CONSENT_UNKNOWN")
        self.seen_consent_ids.append(consent.id)
        if consent.token and request.headers.get("Authorization") != f"Bearer {consent.token}":
            return _tpp(401, "TOKEN_INVALID")
        if consent.status == "expired":
            return _tpp(401, "CONSENT_EXPIRED")
        if consent.status != "valid":
            return _tpp(401, "CONSENT_INVALID")
        if not rest:
            return httpx.Response(
                200, json={"accounts": list(self.accounts.values())}, headers=headers
            )
        account = self.accounts.get(rest[0])
        if account is None:
            return _tpp(404, "RESOURCE_UNKNOWN")
        if rest[1:] == ["balances"]:
            balances = [
                {
                    "balanceType": "closingBooked",
                    "balanceAmount": {"currency": "EUR", "amount": "1250.40"},
                    "referenceDate": "2027-01-14",
                },
                {
                    "balanceType": "interimAvailable",
                    "balanceAmount": {"currency": "EUR", "amount": "1100.00"},
                },
            ]
            return httpx.Response(200, json={"balances": balances}, headers=headers)
        if rest[1:] == ["transactions"]:
            report = {
                "booked": [
                    {
                        "transactionId": "t-1",
                        "bookingDate": "2027-01-10",
                        "transactionAmount": {"currency": "EUR", "amount": "-42.00"},
                        "creditorName": "Stadtwerke",
                    },
                ],
                "pending": [],
                "_links": {"account": {"href": f"/v1/accounts/{rest[0]}"}},
            }
            return httpx.Response(200, json={"transactions": report}, headers=headers)
        if not rest[1:]:
            return httpx.Response(200, json={"account": account}, headers=headers)
        return httpx.Response(404)


class AsgiBank:
    """The stand-in bank as an ASGI app (served over HTTP in hosted tests). Every exchange
    is checked against the reference on the bank's side (`server` is its XS2A root as
    the connector calls it); a breach is kept in `breaches` and answered with a 500."""

    def __init__(self, bank: StandInBank, server: str) -> None:
        self.bank = bank
        self.server = server
        self.checked = ContractTransport(httpx.MockTransport(bank), server=server)
        self.breaches: list[Exception] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        from starlette.requests import Request
        from starlette.responses import Response

        incoming = Request(scope, receive)
        body = await incoming.body()
        url = f"{self.server.rsplit(self.bank.base_path, 1)[0]}{incoming.url.path}"
        if incoming.url.query:
            url += f"?{incoming.url.query}"
        request = httpx.Request(
            incoming.method, url, headers=list(incoming.headers.items()), content=body
        )
        try:
            answer = self.checked.handle_request(request)
        except Exception as breach:  # a contract breach: the test fails on it
            self.breaches.append(breach)
            answer = httpx.Response(500)
        headers = {k: v for k, v in answer.headers.items() if k.lower() != "content-length"}
        response = Response(answer.content, status_code=answer.status_code, headers=headers)
        await response(scope, receive, send)
