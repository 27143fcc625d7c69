"""A real SMTP server for tests: aiosmtpd over TCP on 127.0.0.1, collecting what it accepts."""

from __future__ import annotations

import asyncio
import datetime as dt
import ssl
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from relink.sandbox_bank.testing import STARTUP_SECONDS, free_port

HOST = "127.0.0.1"


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    # (host, port) of the client: one per SMTP connection.
    peer: Any
    tls: bool
    authenticated_as: str | None
    message: EmailMessage
    # The message as it came over the wire (what a DKIM verifier reads).
    raw: bytes = b""


@dataclass
class CollectingHandler:
    received: list[Received] = field(default_factory=list)
    # Replies to the next DATA commands instead of accepting ("451 4.3.0 Try later").
    data_replies: list[str] = field(default_factory=list)
    # The same, only for messages to one recipient (other tests' emails may pass by).
    replies_for: dict[str, list[str]] = field(default_factory=dict)
    # Replies to the next RCPT TO of one recipient instead of accepting it ("451 4.2.0
    # Greylisted"): a refusal of the address before any data is sent.
    rcpt_replies_for: dict[str, list[str]] = field(default_factory=dict)
    # A slow server: every DATA is answered only after this long (sessions overlap).
    data_delay_seconds: float = 0.0

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: Any
    ) -> str:
        if self.rcpt_replies_for.get(address):
            return self.rcpt_replies_for[address].pop(0)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.data_delay_seconds:
            await asyncio.sleep(self.data_delay_seconds)
        for recipient in envelope.rcpt_tos:
            if self.replies_for.get(recipient):
                return self.replies_for[recipient].pop(0)
        if self.data_replies:
            return self.data_replies.pop(0)
        message = BytesParser(policy=policy.default).parsebytes(envelope.original_content)
        assert isinstance(message, EmailMessage)
        login = session.auth_data
        self.received.append(
            Received(
                mail_from=envelope.mail_from,
                rcpt_tos=list(envelope.rcpt_tos),
                peer=session.peer,
                tls=session.ssl is not None,
                authenticated_as=login.login.decode() if session.authenticated else None,
                message=message,
                raw=envelope.original_content,
            )
        )
        return "250 2.0.0 Message accepted"

    def to(self, address: str) -> list[Received]:
        return [item for item in self.received if address in item.rcpt_tos]

    def asking(self, address: str) -> list[Received]:
        """The emails to ``address`` that ask something of the holder: not the consent
        receipts a successful connection or relink sends (they link to /consent/)."""
        return [item for item in self.to(address) if not _links_to_consent(item.message)]


def _links_to_consent(message: EmailMessage) -> bool:
    return any(
        "/consent/" in part.get_content()
        for part in message.walk()
        if part.get_content_type() == "text/plain"
    )


@dataclass
class SmtpServer:
    host: str
    port: int
    handler: CollectingHandler
    # PEM of the server's self-signed certificate (TLS servers only).
    certificate_pem: bytes | None = None

    def client_context(self) -> ssl.SSLContext:
        """A client SSL context that trusts this server's certificate (and verifies it)."""
        assert self.certificate_pem is not None
        context = ssl.create_default_context()
        context.load_verify_locations(cadata=self.certificate_pem.decode())
        return context


def self_signed_certificate() -> tuple[bytes, bytes]:
    """A certificate for 127.0.0.1 and its key, both PEM."""
    import ipaddress

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "relink-test-smtp")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(HOST))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return (
        certificate.public_bytes(serialization.Encoding.PEM),
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    )


def _server_tls_context(certificate: bytes, key: bytes) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    with tempfile.TemporaryDirectory() as folder:
        cert_path, key_path = Path(folder) / "cert.pem", Path(folder) / "key.pem"
        cert_path.write_bytes(certificate)
        key_path.write_bytes(key)
        context.load_cert_chain(cert_path, key_path)
    return context


def accept_login(username: str, password: str) -> Any:
    """An aiosmtpd authenticator that accepts exactly one username and password."""

    def authenticate(
        server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> AuthResult:
        ok = auth_data.login == username.encode() and auth_data.password == password.encode()
        return AuthResult(success=ok, handled=False, auth_data=auth_data)

    return authenticate


@contextmanager
def smtp_server(*, starttls: bool = False, **smtp_options: Any) -> Iterator[SmtpServer]:
    """Run an SMTP server on a free port; ``starttls`` requires STARTTLS before mail."""
    handler = CollectingHandler()
    certificate = None
    if starttls:
        certificate, key = self_signed_certificate()
        smtp_options.update(
            tls_context=_server_tls_context(certificate, key), require_starttls=True
        )
    port = free_port()
    # aiosmtpd waits 1 s for its thread by default; a loaded machine needs longer.
    controller = Controller(
        handler, hostname=HOST, port=port, ready_timeout=STARTUP_SECONDS, **smtp_options
    )
    controller.start()
    try:
        yield SmtpServer(HOST, port, handler, certificate)
    finally:
        controller.stop()
