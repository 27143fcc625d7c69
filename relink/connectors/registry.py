"""The connectors Relink ships, by the name an institution's configuration uses.

Explicit on purpose: adding a connector means adding a line to ``CONNECTORS``.

A connector kind knows three things: how to build the connector from an institution's
settings, its secrets and the service's wiring; how to check settings when an operator
configures an institution (so building never meets bad settings); and which setting keys
are secrets (encrypted at rest, never shown).

``check_settings`` receives the settings with the secrets merged in (so it can require
them) and with ``{sandbox_bank_url}`` already replaced; its messages name keys, never
secret values. ``build`` receives the plain settings (placeholder replaced) and the
connector's secrets apart; the mutual-TLS identity is already in ``wiring.http``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx

from relink.connectors import settings as read
from relink.connectors.base import Connector, InvalidConnectorSettings, PsuContext
from relink.connectors.nextgenpsd2 import NextGenPsd2Connector, Psd2Settings
from relink.connectors.oauth2 import OAuth2Config, OAuth2Connector
from relink.connectors.oauth2.connector import DEFAULT_SCOPE
from relink.connectors.sandbox import SandboxConfig, SandboxConnector
from relink.sandbox_bank.institutions import INSTITUTIONS_BY_KEY

__all__ = ["CONNECTORS", "ConnectorKind", "UnknownConnector", "Wiring", "connector_kind"]


@dataclass(frozen=True)
class Wiring:
    """What the service hands every connector it builds."""

    http: httpx.Client  # already carries the institution's TLS client identity and timeouts
    now: Callable[[], datetime]
    psu: PsuContext | None = None  # None for unattended (background) access


Build = Callable[[Mapping[str, Any], Mapping[str, str], Wiring], Connector]


@dataclass(frozen=True)
class ConnectorKind:
    build: Build  # (settings, secrets, wiring)
    check_settings: Callable[[Mapping[str, Any]], None]  # raises InvalidConnectorSettings
    secret_names: tuple[str, ...] = ()  # settings keys that are secrets
    # The institution's own fields ("country", "bic") the connector also reads among its
    # settings; configuring an institution copies them in.
    institution_fields: tuple[str, ...] = ()


class UnknownConnector(LookupError):
    """An institution names a connector Relink does not ship."""

    def __init__(self, key: str) -> None:
        super().__init__(
            f"unknown connector {key!r} (known connectors: {', '.join(sorted(CONNECTORS))})"
        )
        self.key = key


def connector_kind(key: str) -> ConnectorKind:
    kind = CONNECTORS.get(key)
    if kind is None:
        raise UnknownConnector(key)
    return kind


# --------------------------------------------------------------------------- sandbox

_SANDBOX_KEYS = ("base_url", "institution")


def _check_sandbox(settings: Mapping[str, Any]) -> None:
    read.check_keys(settings, required=_SANDBOX_KEYS)
    read.url(settings, "base_url")
    institution = read.required_text(settings, "institution")
    if institution not in INSTITUTIONS_BY_KEY:
        raise InvalidConnectorSettings(f"institution {institution!r} is not a sandbox bank key")


def _build_sandbox(
    settings: Mapping[str, Any], secrets: Mapping[str, str], wiring: Wiring
) -> Connector:
    return SandboxConnector(
        SandboxConfig(base_url=str(settings["base_url"]), institution=str(settings["institution"])),
        http=wiring.http,
        now=wiring.now,
    )


# --------------------------------------------------------------------------- oauth2

_OAUTH2_REQUIRED = ("authorize_url", "token_url", "base_url", "client_id", "client_secret")
_OAUTH2_OPTIONAL = ("revoke_url", "status_url", "scope")


def _check_oauth2(settings: Mapping[str, Any]) -> None:
    read.check_keys(settings, required=_OAUTH2_REQUIRED, optional=_OAUTH2_OPTIONAL)
    for key in ("authorize_url", "token_url", "base_url"):
        read.url(settings, key)
    for key in ("revoke_url", "status_url"):
        read.url(settings, key, required=False)
    read.required_text(settings, "client_id")
    read.required_text(settings, "client_secret")
    read.text(settings, "scope")


def _build_oauth2(
    settings: Mapping[str, Any], secrets: Mapping[str, str], wiring: Wiring
) -> Connector:
    return OAuth2Connector(
        OAuth2Config(
            authorize_url=str(settings["authorize_url"]),
            token_url=str(settings["token_url"]),
            api_base_url=str(settings["base_url"]),
            client_id=str(settings["client_id"]),
            client_secret=secrets["client_secret"],
            revoke_url=settings.get("revoke_url"),
            status_url=settings.get("status_url"),
            scope=str(settings.get("scope") or DEFAULT_SCOPE),
        ),
        http=wiring.http,
        now=wiring.now,
    )


# --------------------------------------------------------------------------- nextgenpsd2


def _check_nextgenpsd2(settings: Mapping[str, Any]) -> None:
    Psd2Settings.parse(settings)  # raises SettingsInvalid (an InvalidConnectorSettings)


def _build_nextgenpsd2(
    settings: Mapping[str, Any], secrets: Mapping[str, str], wiring: Wiring
) -> Connector:
    return NextGenPsd2Connector(
        Psd2Settings.parse(settings), http=wiring.http, now=wiring.now, psu=wiring.psu
    )


CONNECTORS: dict[str, ConnectorKind] = {
    "sandbox": ConnectorKind(build=_build_sandbox, check_settings=_check_sandbox),
    "oauth2": ConnectorKind(
        build=_build_oauth2, check_settings=_check_oauth2, secret_names=("client_secret",)
    ),
    "nextgenpsd2": ConnectorKind(
        build=_build_nextgenpsd2,
        check_settings=_check_nextgenpsd2,
        institution_fields=("country", "bic"),
    ),
}
