"""DKIM (RFC 6376): signing outgoing email with a key per sender domain.

``relink dkim generate`` makes an RSA key for a domain, stores it in ``dkim_keys`` with
the private key sealed (a :class:`SecretBox` of its own purpose) and prints the DNS TXT
record to publish. The SMTP backend signs every message whose ``From`` domain has a key
(relaxed/relaxed, dkimpy); a message from a domain without one goes out unsigned, and
the worker says so in its log when it starts.
"""

from __future__ import annotations

import base64
import re
import threading
import time
from dataclasses import dataclass

import dkim
import structlog
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import select
from sqlalchemy.orm import Session as DbSession

from relink.db import Database
from relink.email.messages import address_domain
from relink.kit import clock
from relink.kit.crypto import SecretBox
from relink.models import DkimKey

log = structlog.get_logger("relink.email")

KEY_PURPOSE = "relink-dkim-key"
KEY_BITS = 2048
# How long a process keeps what it read of the keys: a key generated while the worker
# runs is used from then on, within this many seconds.
REFRESH_SECONDS = 60.0
# The headers signed when present (From is required). Each of these is also "oversigned"
# (listed once more than it occurs), so a header added on the way invalidates the
# signature; RFC 8058 asks for List-Unsubscribe and List-Unsubscribe-Post to be signed.
SIGNED_HEADERS = (
    b"from",
    b"to",
    b"cc",
    b"subject",
    b"date",
    b"message-id",
    b"reply-to",
    b"mime-version",
    b"content-type",
    b"content-transfer-encoding",
    b"auto-submitted",
    b"list-unsubscribe",
    b"list-unsubscribe-post",
    b"list-id",
)
CANONICALIZATION = (b"relaxed", b"relaxed")
# A domain name, and a selector (one or more labels), lower case.
_LABEL = r"(?!-)[a-z0-9-]{1,63}(?<!-)"
_DOMAIN = re.compile(rf"^{_LABEL}(\.{_LABEL})+$")
_SELECTOR = re.compile(rf"^{_LABEL}(\.{_LABEL})*$")


class InvalidDkimInput(ValueError):
    """A domain or selector that cannot be used; the message says which and why."""


class DkimKeyExists(ValueError):
    """The domain has a key already (replacing it needs ``--replace``)."""


def key_box(secret_key: str) -> SecretBox:
    return SecretBox(secret_key, KEY_PURPOSE)


def normalized_domain(domain: str) -> str:
    value = domain.strip().rstrip(".").lower()
    if len(value) > 253 or not _DOMAIN.match(value):
        raise InvalidDkimInput(f"{domain!r} is not a domain name (like mail.example.com)")
    return value


def normalized_selector(selector: str) -> str:
    value = selector.strip().lower()
    if len(value) > 63 or not _SELECTOR.match(value):
        raise InvalidDkimInput(
            f"{selector!r} is not a DKIM selector (letters, digits and hyphens, like relink1)"
        )
    return value


@dataclass(frozen=True)
class DnsRecord:
    """The TXT record that publishes a key: ``<selector>._domainkey.<domain>``."""

    name: str
    value: str

    def zone_line(self) -> str:
        """The record as a zone-file line, the value cut into strings of at most 255
        characters (the limit of one DNS character-string)."""
        chunks = [self.value[i : i + 255] for i in range(0, len(self.value), 255)]
        quoted = " ".join(f'"{chunk}"' for chunk in chunks)
        return f"{self.name}. IN TXT ( {quoted} )"


def dns_record(key: DkimKey) -> DnsRecord:
    return DnsRecord(
        f"{key.selector}._domainkey.{key.domain}", f"v=DKIM1; k=rsa; p={key.public_key}"
    )


def generate_key(
    db: DbSession, box: SecretBox, domain: str, selector: str, *, replace: bool = False
) -> DkimKey:
    """A new signing key for ``domain`` (sealed), in the caller's transaction."""
    domain, selector = normalized_domain(domain), normalized_selector(selector)
    existing = db.get(DkimKey, domain)
    if existing is not None and not replace:
        raise DkimKeyExists(
            f"{domain} has a DKIM key already (selector {existing.selector}); "
            "pass --replace to make a new one"
        )
    private = rsa.generate_private_key(public_exponent=65537, key_size=KEY_BITS)
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public = private.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    key = existing or DkimKey(domain=domain)
    key.selector = selector
    key.private_key_sealed = box.seal_bytes(pem)
    key.public_key = base64.b64encode(public).decode("ascii")
    key.created_at = clock.now()
    if existing is None:
        db.add(key)
    db.flush()
    return key


def key_of(db: DbSession, domain: str) -> DkimKey | None:
    return db.get(DkimKey, domain.lower())


def all_keys(db: DbSession) -> list[DkimKey]:
    return list(db.scalars(select(DkimKey).order_by(DkimKey.domain)))


@dataclass(frozen=True)
class SigningKey:
    domain: str
    selector: str
    private_key_pem: bytes


class DkimSigner:
    """Signs raw messages with the key of their ``From`` domain (read from the database,
    opened once and kept for :data:`REFRESH_SECONDS`). Safe to share between threads."""

    def __init__(
        self, database: Database, box: SecretBox, *, refresh_seconds: float = REFRESH_SECONDS
    ) -> None:
        self.database = database
        self.box = box
        self.refresh_seconds = refresh_seconds
        self._keys: dict[str, tuple[SigningKey | None, float]] = {}
        self._lock = threading.Lock()

    def key_for(self, domain: str) -> SigningKey | None:
        now = time.monotonic()
        with self._lock:
            cached = self._keys.get(domain)
        if cached is not None and now - cached[1] < self.refresh_seconds:
            return cached[0]
        with self.database.read_only() as db:
            row = key_of(db, domain)
            key = (
                SigningKey(row.domain, row.selector, self.box.open_bytes(row.private_key_sealed))
                if row is not None
                else None
            )
        with self._lock:
            self._keys[domain] = (key, now)
        return key

    def sign(self, raw: bytes) -> bytes:
        """``raw`` with a DKIM-Signature header in front, or unchanged when its From
        domain has no key."""
        message = dkim.DKIM(raw, linesep=b"\r\n")
        sender = next((value for name, value in message.headers if name.lower() == b"from"), None)
        if sender is None:
            return raw
        key = self.key_for(address_domain(sender.decode("utf-8", "replace")))
        if key is None:
            return raw
        present = [name.lower() for name, _ in message.headers]
        signed = [name for name in SIGNED_HEADERS if name in present]
        # Each signed header once more than it occurs: none can be added unnoticed.
        include = [h for name in signed for h in [name] * (present.count(name) + 1)]
        signature = message.sign(
            key.selector.encode("ascii"),
            key.domain.encode("ascii"),
            key.private_key_pem,
            canonicalize=CANONICALIZATION,
            include_headers=include,
        )
        return bytes(signature) + raw


def log_signing(database: Database, sender: str) -> None:
    """Say at start-up whether emails from ``sender`` will be signed."""
    domain = address_domain(sender)
    with database.read_only() as db:
        key = key_of(db, domain)
    if key is None:
        log.warning(
            "email.unsigned",
            domain=domain,
            hint=f"relink dkim generate --domain {domain} --selector relink1",
        )
    else:
        log.info("email.dkim_signing", domain=domain, selector=key.selector)
