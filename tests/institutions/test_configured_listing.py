"""Configured institutions in the API: live ones for live keys, none disabled, no secrets."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import stripe

from relink.connectors.base import ConnectorError, PsuContext
from relink.institutions.configure import import_catalog, read_catalog, set_disabled
from relink.institutions.connectors import connector_for
from relink.institutions.repository import InstitutionRepository
from relink.models import Institution
from relink.runtime import Runtime
from relink.tenancy import Scope
from tests.factories import raw
from tests.institutions.catalogs import (
    CLIENT_SECRET,
    oauth2_entry,
    remove_institutions,
    tls_files,
    unique_bic,
)
from tests.schema import assert_valid
from tests.tls import mutual_tls_server

INSTITUTIONS = "/v1/financial_connections/institutions"


@pytest.fixture
def bics(runtime: Runtime) -> Iterator[list[str]]:
    made: list[str] = []
    yield made
    remove_institutions(runtime, made)


def import_entries(runtime: Runtime, path: Path, *entries: str) -> list[str]:
    path.write_text("".join(entries))
    with runtime.database.unit_of_work() as session:
        return [o.institution_id for o in import_catalog(session, runtime, read_catalog(path))]


def listed_ids(client: stripe.StripeClient) -> set[str]:
    listed = raw(client, "get", INSTITUTIONS, limit=100).to_dict()
    return {institution["id"] for institution in listed["data"]}


def test_a_live_institution_is_listed_for_live_keys_only(
    runtime: Runtime,
    client: stripe.StripeClient,
    live_client: stripe.StripeClient,
    bics: list[str],
    tmp_path: Path,
) -> None:
    bics.append(unique_bic())
    [live] = import_entries(runtime, tmp_path / "c.toml", oauth2_entry("Live Bank", bics[0]))
    assert live in listed_ids(live_client)
    assert live not in listed_ids(client)


def test_a_test_mode_institution_is_listed_for_test_keys_only(
    runtime: Runtime,
    client: stripe.StripeClient,
    live_client: stripe.StripeClient,
    bics: list[str],
    tmp_path: Path,
) -> None:
    bics.append(unique_bic())
    entry = oauth2_entry("Test Bank", bics[0]) + "livemode = false\n"
    [test] = import_entries(runtime, tmp_path / "c.toml", entry)
    assert test in listed_ids(client)
    assert test not in listed_ids(live_client)


def test_a_disabled_institution_is_listed_for_nobody(
    runtime: Runtime, live_client: stripe.StripeClient, bics: list[str], tmp_path: Path
) -> None:
    bics.append(unique_bic())
    [live] = import_entries(runtime, tmp_path / "c.toml", oauth2_entry("Gone Bank", bics[0]))
    with runtime.database.unit_of_work() as session:
        set_disabled(session, live, disabled=True)
    assert live not in listed_ids(live_client)
    with runtime.database.read_only() as session:
        offered = session.scalars(InstitutionRepository(session, True).offered()).all()
    assert live not in {i.id for i in offered}


def test_the_api_answer_carries_no_secret(
    runtime: Runtime, live_client: stripe.StripeClient, bics: list[str], tmp_path: Path
) -> None:
    bics.append(unique_bic())
    tls_files(tmp_path / "certs")
    entry = oauth2_entry("Secret Bank", bics[0]) + (
        'client_certificate = "certs/client.pem"\nclient_key = "certs/client.key"\n'
    )
    [live] = import_entries(runtime, tmp_path / "c.toml", entry)
    answer = raw(live_client, "get", f"{INSTITUTIONS}/{live}").to_dict()
    assert_valid(answer, "financial_connections.institution")
    text = json.dumps(answer)
    assert CLIENT_SECRET not in text and "PRIVATE KEY" not in text and "CERTIFICATE" not in text
    assert answer["name"] == "Secret Bank" and answer["countries"] == ["DE"]


def test_an_imported_bank_is_called_with_its_client_certificate(
    runtime: Runtime, bics: list[str], tmp_path: Path
) -> None:
    bics.append(unique_bic())
    tls = tls_files(tmp_path / "certs", name="tpp.relink.test")
    with mutual_tls_server(tls.ca) as bank:
        entry = oauth2_entry("TLS Bank", bics[0], base=bank.url) + (
            'client_certificate = "certs/client.pem"\nclient_key = "certs/client.key"\n'
            'ca_certificate = "certs/ca.pem"\n'
        )
        [live] = import_entries(runtime, tmp_path / "c.toml", entry)
        with runtime.database.read_only() as session:
            institution = session.get(Institution, live)
            assert institution is not None
            connector_for(runtime, institution, Scope("", True)).health()
    assert bank.client_names == ["tpp.relink.test"]
    assert bank.paths == ["/status"]


def test_a_link_at_an_imported_psd2_bank_reaches_its_consent_endpoint_with_the_certificate(
    runtime: Runtime, live_client: stripe.StripeClient, bics: list[str], tmp_path: Path
) -> None:
    bics.append("MUSTDEFFXXX")
    tls = tls_files(tmp_path / "certs", name="qwac.relink.test")
    consent = {
        "consentStatus": "received",
        "consentId": "consent-1",
        "_links": {"scaRedirect": {"href": "https://bank.example/sca/consent-1"}},
    }
    with mutual_tls_server(tls.ca, body=consent) as bank:
        entry = f"""
[[institution]]
name = "Musterbank"
connector = "nextgenpsd2"
country = "DE"
bic = "MUSTDEFFXXX"
base_url = "{bank.url}/psd2"
client_certificate = "certs/client.pem"
client_key = "certs/client.key"
ca_certificate = "certs/ca.pem"
"""
        [live] = import_entries(runtime, tmp_path / "c.toml", entry)
        assert live in listed_ids(live_client)
        with runtime.database.read_only() as session:
            institution = session.get(Institution, live)
            assert institution is not None
            connector = connector_for(
                runtime, institution, Scope("", True), psu=PsuContext(ip_address="192.0.2.7")
            )
        # The stand-in bank answers every request alike; the request is the point.
        with contextlib.suppress(ConnectorError):
            connector.begin_auth(state="state-1", redirect_uri="https://relink.test/callback")
    assert bank.paths[0] == "/psd2/v1/consents"
    assert bank.client_names[0] == "qwac.relink.test"
