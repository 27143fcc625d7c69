"""Building the connector that serves an institution, for one scope.

Through the registry (``relink.connectors.registry.CONNECTORS``): the institution's
settings (``{sandbox_bank_url}`` replaced by the embedded sandbox bank's URL), its opened
secrets, and the wiring — an HTTP client carrying the institution's TLS client identity,
the scope's clock, the holder's request when the holder is present.

Connectors are synchronous (httpx); call them from worker threads or the request
threadpool, never on the event loop.
"""

from __future__ import annotations

import hashlib
import os
import ssl
import tempfile
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from relink.connectors.base import Connector, PsuContext
from relink.connectors.registry import UnknownConnector, Wiring, connector_kind
from relink.institutions.secrets import (
    CA_CERTIFICATE,
    CLIENT_CERTIFICATE,
    CLIENT_KEY,
    open_secrets,
)
from relink.models import Institution
from relink.runtime import Runtime
from relink.tenancy import Scope

SANDBOX_BANK_URL = "{sandbox_bank_url}"
# Bank calls happen while a holder waits, or in the worker's bounded scans.
TIMEOUT = httpx.Timeout(10.0, connect=5.0)
_CLIENTS_KEY = "connector_http_clients"
_lock = threading.Lock()


class ConnectorUnavailable(Exception):
    """No connector can serve this institution (disabled, or its connector is unknown)."""


@dataclass(frozen=True)
class TlsIdentity:
    """What an institution's HTTP client presents and trusts (PEM texts)."""

    certificate: str | None = None
    key: str | None = None
    trusted_ca: str | None = None

    @classmethod
    def from_secrets(cls, secrets: Mapping[str, str]) -> TlsIdentity:
        return cls(
            certificate=secrets.get(CLIENT_CERTIFICATE),
            key=secrets.get(CLIENT_KEY),
            trusted_ca=secrets.get(CA_CERTIFICATE),
        )

    @property
    def fingerprint(self) -> str:
        digest = hashlib.sha256()
        for part in (self.certificate, self.key, self.trusted_ca):
            digest.update((part or "").encode() + b"\0")
        return digest.hexdigest()

    def ssl_context(self) -> ssl.SSLContext | bool:
        if self.certificate is None and self.trusted_ca is None:
            return True  # httpx's default trust, no client certificate
        context = (
            ssl.create_default_context(cadata=self.trusted_ca)
            if self.trusted_ca
            else httpx.create_ssl_context()
        )
        if self.certificate is not None:
            _load_client_identity(context, self.certificate, self.key)
        return context


def _load_client_identity(context: ssl.SSLContext, certificate: str, key: str | None) -> None:
    """``ssl`` loads a certificate chain only from files: write them to a private
    directory for the moment it takes, then remove them."""
    with tempfile.TemporaryDirectory(prefix="relink-tls-") as directory:
        cert_path = Path(directory) / "client.pem"
        cert_path.write_text(certificate)
        key_path = None
        if key is not None:
            key_path = Path(directory) / "client.key"
            fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(key)
        context.load_cert_chain(str(cert_path), str(key_path) if key_path else None)


def http_client(runtime: Runtime, identity: TlsIdentity) -> httpx.Client:
    """One pooled client per runtime and TLS identity, shared by its connectors."""
    with _lock:
        clients = runtime.extras.setdefault(_CLIENTS_KEY, {})
        assert isinstance(clients, dict)
        client = clients.get(identity.fingerprint)
        if client is None:
            client = clients[identity.fingerprint] = httpx.Client(
                timeout=TIMEOUT, follow_redirects=False, verify=identity.ssl_context()
            )
        assert isinstance(client, httpx.Client)
        return client


def close_http_clients(runtime: Runtime) -> None:
    """Close the runtime's pooled clients (at shutdown); later calls pool new ones."""
    with _lock:
        clients = runtime.extras.pop(_CLIENTS_KEY, {})
    assert isinstance(clients, dict)
    for client in clients.values():
        client.close()


def resolve_settings(runtime: Runtime, settings: Mapping[str, Any]) -> dict[str, Any]:
    """The settings with ``{sandbox_bank_url}`` replaced in every text value."""
    bank_url = runtime.settings.resolved_sandbox_bank_url.rstrip("/")
    return {
        key: value.replace(SANDBOX_BANK_URL, bank_url) if isinstance(value, str) else value
        for key, value in settings.items()
    }


def connector_for(
    runtime: Runtime, institution: Institution, scope: Scope, *, psu: PsuContext | None = None
) -> Connector:
    """The connector serving ``institution``; ``psu`` only while the holder is present."""
    if institution.disabled_at is not None:
        raise ConnectorUnavailable(f"{institution.name} is disabled.")
    try:
        kind = connector_kind(institution.connector)
    except UnknownConnector as error:
        raise ConnectorUnavailable(f"No connector can serve {institution.name}: {error}.") from None
    secrets = open_secrets(runtime.secret_box, institution)
    wiring = Wiring(
        http=http_client(runtime, TlsIdentity.from_secrets(secrets)), now=scope.now, psu=psu
    )
    connector_secrets = {name: secrets[name] for name in kind.secret_names if name in secrets}
    return kind.build(resolve_settings(runtime, institution.settings), connector_secrets, wiring)
