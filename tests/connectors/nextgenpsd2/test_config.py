"""An institution's NextGenPSD2 settings are checked when they are saved."""

from __future__ import annotations

from typing import Any

import pytest

from relink.connectors.nextgenpsd2 import Psd2Settings, SettingsInvalid

VALID: dict[str, Any] = {
    "base_url": "https://xs2a.bank.example/psd2/",
    "country": "DE",
    "bic": "TESTDEFFXXX",
}


def test_valid_settings_are_read_with_their_defaults() -> None:
    settings = Psd2Settings.parse(VALID)

    assert settings.base_url == "https://xs2a.bank.example/psd2"
    assert (settings.consent_valid_days, settings.frequency_per_day) == (90, 4)
    assert settings.approach == "redirect"


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"consent_valid_days": 181}, "consent_valid_days"),
        ({"frequency_per_day": 0}, "frequency_per_day"),
        ({"country": "Germany"}, "country"),
        ({"bic": "TEST"}, "bic"),
        ({"base_url": "xs2a.bank.example"}, "base_url"),
        ({"sca_approaches": ["embedded"]}, "sca_approaches"),
        ({"sca_approaches": ["oauth"]}, "oauth_authorize_url"),
        ({"oauth_token_url": "token"}, "oauth_token_url"),
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"client_secret": "x"}, "client_secret"),
    ],
)
def test_a_wrong_setting_is_refused_by_name(change: dict[str, Any], named: str) -> None:
    with pytest.raises(SettingsInvalid, match=named):
        Psd2Settings.parse({**VALID, **change})


def test_the_oauth_pre_step_needs_its_urls_and_client() -> None:
    settings = Psd2Settings.parse(
        {
            **VALID,
            "sca_approaches": ["oauth", "redirect"],
            "oauth_authorize_url": "https://bank.example/authorize",
            "oauth_token_url": "https://bank.example/token",
            "oauth_client_id": "PSDDE-BAFIN-123456",
        }
    )

    assert settings.approach == "oauth"
    assert settings.oauth is not None and settings.oauth.scope == "AIS"
