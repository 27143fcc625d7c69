"""Building the connector that serves an institution, for one scope.

Connectors are synchronous (httpx); call them from worker threads or the request
threadpool, never on the event loop.
"""

from __future__ import annotations

import threading

import httpx

from relink.connectors.base import Connector
from relink.connectors.sandbox import SandboxConfig, SandboxConnector
from relink.models import Institution
from relink.runtime import Runtime
from relink.tenancy import Scope

_clients: dict[int, httpx.Client] = {}
_lock = threading.Lock()


class ConnectorUnavailable(Exception):
    """No connector is configured for this institution."""


def _http_client(runtime: Runtime) -> httpx.Client:
    """One pooled HTTP client per runtime, shared by its connectors."""
    with _lock:
        client = _clients.get(id(runtime))
        if client is None:
            client = _clients[id(runtime)] = httpx.Client(timeout=10.0, follow_redirects=False)
        return client


def connector_for(runtime: Runtime, institution: Institution, scope: Scope) -> Connector:
    if institution.connector == "sandbox":
        return SandboxConnector(
            SandboxConfig(
                base_url=runtime.settings.resolved_sandbox_bank_url,
                institution=institution.connector_key,
            ),
            http=_http_client(runtime),
            now=scope.now,
        )
    raise ConnectorUnavailable(
        f"No connector is configured for {institution.name} ({institution.connector})."
    )
