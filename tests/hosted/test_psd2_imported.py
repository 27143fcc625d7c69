"""A real-shaped NextGenPSD2 bank imported from a catalog: listed for live keys, and a
holder's link reaches its consent endpoint over mutual TLS with the imported client
certificate (a stand-in ASPSP that requires one)."""

from __future__ import annotations

import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import stripe
import trustme
import uvicorn

from relink.institutions.configure import import_catalog, read_catalog
from relink.runtime import Runtime
from relink.sandbox_bank.testing import free_port
from tests.connectors.nextgenpsd2.aspsp import AsgiBank, StandInBank
from tests.factories import create_customer, raw
from tests.hosted.connect_factories import link_session
from tests.hosted.pages import HostedPages
from tests.institutions.catalogs import remove_institutions, tls_files, unique_bic


@contextmanager
def _serve_mutual_tls(app: AsgiBank, ca: trustme.CA, directory: Path, port: int) -> Iterator[None]:
    server_cert = ca.issue_cert("localhost")
    cert, key = directory / "server.pem", directory / "server.key"
    server_cert.cert_chain_pems[0].write_to_path(str(cert))
    for extra in server_cert.cert_chain_pems[1:]:
        extra.write_to_path(str(cert), append=True)
    server_cert.private_key_pem.write_to_path(str(key))
    ca.cert_pem.write_to_path(str(directory / "clients-ca.pem"))
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        lifespan="off",
        ssl_certfile=str(cert),
        ssl_keyfile=str(key),
        ssl_ca_certs=str(directory / "clients-ca.pem"),
        ssl_cert_reqs=ssl.CERT_REQUIRED,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        assert thread.is_alive(), "the bank did not start"
        time.sleep(0.01)
    try:
        yield
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture
def bic(runtime: Runtime) -> Iterator[str]:
    made = unique_bic()
    yield made
    remove_institutions(runtime, [made])


def test_an_imported_psd2_bank_gets_the_consent_request_over_mutual_tls(
    live_client: stripe.StripeClient, runtime: Runtime, bic: str, tmp_path: Path
) -> None:
    tls = tls_files(tmp_path / "certs", name="tpp.relink.test")
    port = free_port()
    base = f"https://localhost:{port}/psd2"
    bank = StandInBank(base_path="/psd2", sca_pages=f"https://localhost:{port}/sca")
    app = AsgiBank(bank, server=base)
    (tmp_path / "catalog.toml").write_text(
        f"""
[[institution]]
name = "Musterbank"
connector = "nextgenpsd2"
country = "DE"
bic = "{bic}"
base_url = "{base}"
sca_approaches = ["redirect"]
consent_valid_days = 180
frequency_per_day = 4
timezone = "Europe/Berlin"
client_certificate = "certs/client.pem"
client_key = "certs/client.key"
ca_certificate = "certs/ca.pem"
"""
    )
    with runtime.database.unit_of_work() as session:
        [outcome] = import_catalog(session, runtime, read_catalog(tmp_path / "catalog.toml"))
    institution = outcome.institution_id
    listed = raw(live_client, "get", "/v1/financial_connections/institutions", limit=100)
    assert institution in {i["id"] for i in listed.to_dict()["data"]}

    customer = create_customer(live_client, name="Erika Mustermann")
    created = link_session(
        live_client,
        customer,
        permissions=["balances"],
        filters={"institution": institution},
        return_url="https://platform.example/done",
    )
    with (
        _serve_mutual_tls(app, tls.ca, tmp_path, port),
        httpx.Client(timeout=15, follow_redirects=False) as browser,
    ):
        pages = HostedPages(browser, created.url)
        pages.open()
        away = pages.post("continue")

    assert not app.breaches, app.breaches
    assert away.status_code == 303
    assert away.headers["location"] == f"https://localhost:{port}/sca/{bank.last.id}"
    assert bank.last.body["validUntil"]
    [consent_request] = app.checked.requests
    assert consent_request.url.path == "/psd2/v1/consents"
