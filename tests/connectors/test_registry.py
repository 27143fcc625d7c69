"""The explicit connector registry."""

from __future__ import annotations

from relink.connectors.oauth2 import OAuth2Connector
from relink.connectors.registry import CONNECTORS
from relink.connectors.sandbox import SandboxConnector


def test_registry_names_exactly_the_shipped_connectors() -> None:
    shipped = dict(CONNECTORS)
    assert shipped == {"sandbox": SandboxConnector, "oauth2": OAuth2Connector}
