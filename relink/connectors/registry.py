"""The connectors Relink ships, by the name an institution's configuration uses.

Explicit on purpose: adding a connector means adding a line here.

- `"sandbox"`: `SandboxConnector(SandboxConfig(base_url, institution), http=, now=)`
- `"oauth2"`: `OAuth2Connector(OAuth2Config(authorize_url, token_url, api_base_url,
  client_id, client_secret, revoke_url=, status_url=, scope=), http=, now=)`
"""

from __future__ import annotations

from relink.connectors.base import Connector
from relink.connectors.oauth2 import OAuth2Connector
from relink.connectors.sandbox import SandboxConnector

CONNECTORS: dict[str, type[Connector]] = {
    "sandbox": SandboxConnector,
    "oauth2": OAuth2Connector,
}
