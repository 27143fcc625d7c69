"""Catalog files, TLS files and cleanup for the institution configuration tests."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import trustme
from sqlalchemy import delete

from relink.models import Institution
from relink.runtime import Runtime

CLIENT_SECRET = "oauth2-client-secret-never-shown"


@dataclass(frozen=True)
class TlsFiles:
    ca: trustme.CA
    certificate: Path
    key: Path
    ca_certificate: Path

    @property
    def certificate_pem(self) -> str:
        return self.certificate.read_text()

    @property
    def key_pem(self) -> str:
        return self.key.read_text()


def tls_files(directory: Path, name: str = "tpp.relink.test") -> TlsFiles:
    ca = trustme.CA()
    issued = ca.issue_cert(name)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "client.pem").write_bytes(b"".join(p.bytes() for p in issued.cert_chain_pems))
    (directory / "client.key").write_bytes(issued.private_key_pem.bytes())
    (directory / "ca.pem").write_bytes(ca.cert_pem.bytes())
    return TlsFiles(ca, directory / "client.pem", directory / "client.key", directory / "ca.pem")


def unique_bic() -> str:
    """A BIC of its own per test (institutions are global to the test database)."""
    return "TEST" + "DE" + secrets.token_hex(3).upper()[:2] + secrets.token_hex(2).upper()[:3]


def oauth2_entry(name: str, bic: str, base: str = "https://api.example-bank.test") -> str:
    return f"""
[[institution]]
name = "{name}"
connector = "oauth2"
country = "DE"
bic = "{bic}"
base_url = "{base}/api"
authorize_url = "{base}/authorize"
token_url = "{base}/token"
status_url = "{base}/status"
client_id = "relink"
client_secret = "{CLIENT_SECRET}"
"""


def remove_institutions(runtime: Runtime, bics: Iterator[str] | list[str]) -> None:
    with runtime.database.unit_of_work() as session:
        session.execute(delete(Institution).where(Institution.bic.in_(list(bics))))
