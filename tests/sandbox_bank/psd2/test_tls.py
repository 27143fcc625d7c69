"""The bank alone over TLS requiring a client certificate, as an ASPSP asks of a TPP:
a separate process, a real TLS socket, certificates made in the test with trustme."""

from __future__ import annotations

import ssl
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import trustme

from relink.sandbox_bank import TlsFiles
from relink.sandbox_bank.testing import BankProcess, free_port
from tests.sandbox_bank.psd2.contract import validate_response
from tests.sandbox_bank.psd2.tpp import consent_body


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("pki")
    server_ca, tpp_ca, stranger_ca = trustme.CA(), trustme.CA(), trustme.CA()
    files = {
        "server_ca": folder / "server-ca.pem",
        "server": folder / "server.pem",
        "server_key": folder / "server-key.pem",
        "tpp_ca": folder / "tpp-ca.pem",
        "tpp": folder / "tpp.pem",
        "stranger": folder / "stranger.pem",
    }
    server_ca.cert_pem.write_to_path(files["server_ca"])
    server_cert = server_ca.issue_cert("127.0.0.1")
    server_cert.cert_chain_pems[0].write_to_path(files["server"])
    server_cert.private_key_pem.write_to_path(files["server_key"])
    tpp_ca.cert_pem.write_to_path(files["tpp_ca"])
    tpp_ca.issue_cert("tpp.relink.test").private_key_and_cert_chain_pem.write_to_path(files["tpp"])
    stranger_ca.issue_cert("tpp.relink.test").private_key_and_cert_chain_pem.write_to_path(
        files["stranger"]
    )
    return files


@pytest.fixture(scope="module")
def aspsp(pki: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tls = TlsFiles(str(pki["server"]), str(pki["server_key"]), str(pki["tpp_ca"]))
    database = tmp_path_factory.mktemp("tls-bank") / "bank.db"
    with BankProcess(database, tls=tls, pages_port=free_port()) as bank:
        yield bank.base_url


def _client(pki: dict[str, Path], certificate: str | None) -> httpx.Client:
    context = ssl.create_default_context(cafile=str(pki["server_ca"]))
    if certificate is not None:
        context.load_cert_chain(str(pki[certificate]))
    return httpx.Client(verify=context, timeout=10)


def _status_read(client: httpx.Client, aspsp: str) -> httpx.Response:
    return client.get(
        f"{aspsp}/psd2/v1/consents/unknown/status",
        headers={"X-Request-ID": str(uuid.uuid4())},
    )


def test_tpp_with_a_certificate_of_the_client_ca_is_served(
    aspsp: str, pki: dict[str, Path]
) -> None:
    with _client(pki, "tpp") as client:
        answer = _status_read(client, aspsp)

    assert answer.status_code == 403  # through TLS: the bank itself answers
    validate_response(answer, f"{aspsp}/psd2")


def test_tpp_without_a_certificate_is_refused_at_the_handshake(
    aspsp: str, pki: dict[str, Path]
) -> None:
    with _client(pki, None) as client, pytest.raises(httpx.TransportError):
        _status_read(client, aspsp)


def test_tpp_with_a_certificate_of_another_ca_is_refused(aspsp: str, pki: dict[str, Path]) -> None:
    with _client(pki, "stranger") as client, pytest.raises(httpx.TransportError):
        _status_read(client, aspsp)


def test_holders_reach_the_sca_pages_on_the_pages_port_without_a_certificate(
    aspsp: str, pki: dict[str, Path]
) -> None:
    body = consent_body()
    with _client(pki, "tpp") as tpp:
        created = tpp.post(
            f"{aspsp}/psd2/v1/consents",
            json=body,
            headers={
                "X-Request-ID": str(uuid.uuid4()),
                "PSU-IP-Address": "198.51.100.7",
                "TPP-Redirect-URI": "https://tpp.test/ok",
            },
        )
    sca = created.json()["_links"]["scaRedirect"]["href"]

    with _client(pki, None) as browser:
        page = browser.get(sca)

    assert not sca.startswith(aspsp)
    assert page.status_code == 200
    assert 'data-step="login"' in page.text
