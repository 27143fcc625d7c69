"""A PSD2 client for the bank's ASPSPs: every answer is checked against the reference."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import httpx
import pytest

from tests.sandbox_bank.psd2.contract import checking_hook
from tests.sandbox_bank.psd2.tpp import consent_body

HOLDER_IP = "198.51.100.7"


class Psd2Client:
    """Talks to one ASPSP (`path` below the bank's URL) like a TPP would."""

    def __init__(self, bank_url: str, path: str) -> None:
        self.server = f"{bank_url}/{path}"
        self.http = httpx.Client(
            base_url=self.server, timeout=10, event_hooks={"response": [checking_hook(self.server)]}
        )

    def headers(
        self, extra: Mapping[str, str] | None = None, *, present: bool = True
    ) -> dict[str, str]:
        headers = {"X-Request-ID": str(uuid.uuid4()), **(extra or {})}
        if present:
            headers["PSU-IP-Address"] = HOLDER_IP
        return headers

    def create_consent(
        self,
        ibans: list[str] | None = None,
        *,
        valid_until: str = "9999-12-31",
        frequency: int = 4,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        body = consent_body(ibans, valid_until=valid_until, frequency=frequency)
        return self.post_consent(body, headers=headers)

    def post_consent(self, body: Any, *, headers: dict[str, str] | None = None) -> httpx.Response:
        sent = (
            headers
            if headers is not None
            else self.headers(
                {
                    "TPP-Redirect-URI": "https://tpp.test/ok?state=s1",
                    "TPP-Nok-Redirect-URI": "https://tpp.test/nok?state=s1",
                }
            )
        )
        return self.http.post("/v1/consents", json=body, headers=sent)

    def get(self, path: str, *, consent: str | None = None, present: bool = True,
            **params: str) -> httpx.Response:  # fmt: skip
        headers = self.headers(present=present)
        if consent is not None:
            headers["Consent-ID"] = consent
        return self.http.get(path, headers=headers, params=params)

    def close(self) -> None:
        self.http.close()


@pytest.fixture
def psd2(bank_url: str) -> Iterator[Callable[[str], Psd2Client]]:
    clients: list[Psd2Client] = []

    def make(path: str = "psd2") -> Psd2Client:
        clients.append(Psd2Client(bank_url, path))
        return clients[-1]

    yield make
    for client in clients:
        client.close()
