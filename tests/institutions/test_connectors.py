"""connector_for: institutions are served through the connector registry."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import trustme

from relink.connectors.base import Health, PsuContext
from relink.connectors.oauth2 import OAuth2Connector
from relink.connectors.sandbox import SandboxConnector
from relink.institutions.connectors import ConnectorUnavailable, connector_for
from relink.institutions.secrets import seal_secrets
from relink.models import Institution
from relink.runtime import Runtime
from relink.tenancy import Scope
from tests.tls import mutual_tls_server

NOW = datetime(2026, 12, 1, tzinfo=UTC)
SCOPE = Scope("", True)


def institution(**fields: object) -> Institution:
    values: dict[str, object] = {
        "id": "fcinst_test_connector_for",
        "livemode": True,
        "connector": "sandbox",
        "connector_key": "bank_oauth",
        "name": "Connector Test Bank",
        "settings": {"base_url": "{sandbox_bank_url}", "institution": "bank_oauth"},
        "created_at": NOW,
        **fields,
    }
    return Institution(**values)


def oauth2_settings(base: str) -> dict[str, str]:
    return {
        "authorize_url": f"{base}/authorize",
        "token_url": f"{base}/token",
        "base_url": f"{base}/api",
        "status_url": f"{base}/status",
        "client_id": "relink",
    }


def test_the_sandbox_bank_placeholder_becomes_the_embedded_bank_url(runtime: Runtime) -> None:
    connector = connector_for(runtime, institution(), SCOPE)
    assert isinstance(connector, SandboxConnector)
    assert connector.sandbox.base_url == runtime.settings.resolved_sandbox_bank_url


def test_a_disabled_institution_has_no_connector(runtime: Runtime) -> None:
    with pytest.raises(ConnectorUnavailable, match="Connector Test Bank is disabled"):
        connector_for(runtime, institution(disabled_at=NOW), SCOPE)


def test_an_unknown_connector_is_unavailable_naming_the_known_ones(runtime: Runtime) -> None:
    with pytest.raises(ConnectorUnavailable, match=r"unknown connector 'ebics'.*known connectors"):
        connector_for(runtime, institution(connector="ebics"), SCOPE)


def test_the_connector_gets_its_sealed_secrets(runtime: Runtime) -> None:
    sealed = seal_secrets(runtime.secret_box, {"client_secret": "s3cret"})
    connector = connector_for(
        runtime,
        institution(
            connector="oauth2",
            settings=oauth2_settings("https://bank.example"),
            secrets_sealed=sealed,
        ),
        SCOPE,
        psu=PsuContext(ip_address="192.0.2.7"),
    )
    assert isinstance(connector, OAuth2Connector)
    assert connector.config.client_secret == "s3cret"


def test_a_client_certificate_is_presented_over_mutual_tls(runtime: Runtime) -> None:
    ca = trustme.CA()
    tpp = ca.issue_cert("tpp.relink.test")
    secrets = {
        "client_secret": "s3cret",
        "client_certificate": tpp.cert_chain_pems[0].bytes().decode(),
        "client_key": tpp.private_key_pem.bytes().decode(),
        "ca_certificate": ca.cert_pem.bytes().decode(),
    }
    with mutual_tls_server(ca) as bank:
        connector = connector_for(
            runtime,
            institution(
                connector="oauth2",
                settings=oauth2_settings(bank.url),
                secrets_sealed=seal_secrets(runtime.secret_box, secrets),
            ),
            SCOPE,
        )
        assert connector.health() == Health.active
    assert bank.client_names == ["tpp.relink.test"]
    assert bank.paths == ["/status"]


def test_without_a_client_certificate_the_bank_refuses_the_handshake(runtime: Runtime) -> None:
    ca = trustme.CA()
    secrets = {"client_secret": "s3cret", "ca_certificate": ca.cert_pem.bytes().decode()}
    with mutual_tls_server(ca) as bank:
        connector = connector_for(
            runtime,
            institution(
                connector="oauth2",
                settings=oauth2_settings(bank.url),
                secrets_sealed=seal_secrets(runtime.secret_box, secrets),
            ),
            SCOPE,
        )
        assert connector.health() == Health.degraded
    assert bank.client_names == []
