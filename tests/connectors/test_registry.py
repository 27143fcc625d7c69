"""The explicit connector registry."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from relink.connectors.base import InvalidConnectorSettings, PsuContext
from relink.connectors.nextgenpsd2 import NextGenPsd2Connector
from relink.connectors.oauth2 import OAuth2Connector
from relink.connectors.registry import CONNECTORS, UnknownConnector, Wiring, connector_kind
from relink.connectors.sandbox import SandboxConnector

OAUTH2_SETTINGS = {
    "authorize_url": "https://bank.example/authorize",
    "token_url": "https://bank.example/token",
    "base_url": "https://api.bank.example/v1",
    "client_id": "relink",
    "client_secret": "s3cret",
}


def wiring(http: httpx.Client) -> Wiring:
    return Wiring(http=http, now=lambda: datetime(2026, 12, 1, tzinfo=UTC))


def test_registry_names_the_shipped_connectors() -> None:
    assert {"sandbox", "oauth2"} <= set(CONNECTORS)


def test_an_unknown_connector_is_a_clear_error_naming_the_known_ones() -> None:
    with pytest.raises(UnknownConnector, match=r"unknown connector 'sepa'.*oauth2.*sandbox"):
        connector_kind("sepa")


def test_sandbox_builds_the_sandbox_connector_for_its_bank_key() -> None:
    with httpx.Client() as http:
        connector = CONNECTORS["sandbox"].build(
            {"base_url": "http://bank.test/sandbox-bank", "institution": "bank_oauth"},
            {},
            wiring(http),
        )
    assert isinstance(connector, SandboxConnector)
    assert connector.institution.key == "bank_oauth"


def test_sandbox_settings_name_a_sandbox_bank_key() -> None:
    with pytest.raises(InvalidConnectorSettings, match="not a sandbox bank key"):
        CONNECTORS["sandbox"].check_settings(
            {"base_url": "http://bank.test/sandbox-bank", "institution": "nope"}
        )


def test_oauth2_builds_with_its_client_secret_from_the_secrets() -> None:
    settings = {k: v for k, v in OAUTH2_SETTINGS.items() if k != "client_secret"}
    with httpx.Client() as http:
        connector = CONNECTORS["oauth2"].build(settings, {"client_secret": "s3cret"}, wiring(http))
    assert isinstance(connector, OAuth2Connector)
    assert connector.config.client_secret == "s3cret"
    assert connector.config.api_base_url == "https://api.bank.example/v1"


def test_oauth2_declares_its_client_secret_a_secret() -> None:
    assert CONNECTORS["oauth2"].secret_names == ("client_secret",)


def test_oauth2_settings_are_checked() -> None:
    CONNECTORS["oauth2"].check_settings(OAUTH2_SETTINGS)
    with pytest.raises(InvalidConnectorSettings, match=r"missing setting.*token_url"):
        CONNECTORS["oauth2"].check_settings(
            {k: v for k, v in OAUTH2_SETTINGS.items() if k != "token_url"}
        )
    with pytest.raises(InvalidConnectorSettings, match="authorize_url must be an absolute"):
        CONNECTORS["oauth2"].check_settings({**OAUTH2_SETTINGS, "authorize_url": "bank/authorize"})
    with pytest.raises(InvalidConnectorSettings, match=r"unknown setting.*scopes"):
        CONNECTORS["oauth2"].check_settings({**OAUTH2_SETTINGS, "scopes": "x"})


PSD2_SETTINGS = {"base_url": "https://xs2a.bank.example/psd2", "country": "DE", "bic": "TESTDEFF"}


def test_nextgenpsd2_builds_with_the_holder_s_context_from_the_wiring() -> None:
    psu = PsuContext(ip_address="203.0.113.7", user_agent="Firefox", accept_language="de")
    with httpx.Client() as http:
        connector = CONNECTORS["nextgenpsd2"].build(
            PSD2_SETTINGS, {}, Wiring(http=http, now=lambda: datetime.now(UTC), psu=psu)
        )
    assert isinstance(connector, NextGenPsd2Connector)
    assert connector.settings.bic == "TESTDEFF"


def test_nextgenpsd2_settings_are_checked_by_name() -> None:
    CONNECTORS["nextgenpsd2"].check_settings(PSD2_SETTINGS)
    with pytest.raises(InvalidConnectorSettings, match="consent_valid_days"):
        CONNECTORS["nextgenpsd2"].check_settings({**PSD2_SETTINGS, "consent_valid_days": 365})
