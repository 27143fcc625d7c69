"""Hashing, password hashing and encryption at rest.

- Random secrets (API keys, link tokens) are high-entropy, so a SHA-256 digest is
  enough to store them and lets a request look one up by digest in O(1).
- Passwords use argon2id.
- Bank grants are encrypted with Fernet under a key derived (HKDF) from the secret key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from functools import cache
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_password_hasher = PasswordHasher()


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def random_token(nbytes: int = 32) -> str:
    """URL-safe random token (32 bytes = 256 bits by default)."""
    return secrets.token_urlsafe(nbytes)


def derived_token(key: bytes, purpose: str, value: str) -> str:
    """A 256-bit URL-safe token derived from ``value`` with a server-held key.

    For a link emailed later by the worker: only the token's digest is stored, and the
    worker derives the token again from the row's id, so no token waits in the clear."""
    # hmac.digest: the one-shot C path, a few times faster than hmac.new per token.
    mac = hmac.digest(key, f"{purpose}:{value}".encode(), "sha256")
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


def constant_time_equals(left: str, right: str) -> bool:
    return hmac.compare_digest(left.encode(), right.encode())


def hash_password(password: str) -> str:
    return _password_hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _password_hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


# A fixed hash to verify against when the user does not exist, so that
# login takes the same time whether or not the email is known.
@cache
def dummy_password_hash() -> str:
    """Made on first use (hashing costs a noticeable fraction of a second at import)."""
    return PasswordHasher().hash("relink-dummy-password")


def derive_key(secret_key: str, purpose: str, *, length: int = 32) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=None, info=purpose.encode()).derive(
        secret_key.encode()
    )


class SecretBox:
    """Encrypts small documents for storage (bank grants; stored API answers), each use
    under a key of its own derived from the secret key."""

    def __init__(self, secret_key: str, purpose: str = "relink-grant-encryption") -> None:
        key = base64.urlsafe_b64encode(derive_key(secret_key, purpose))
        self._fernet = Fernet(key)

    def seal_bytes(self, plain: bytes) -> bytes:
        return self._fernet.encrypt(plain)

    def open_bytes(self, sealed: bytes) -> bytes:
        try:
            return self._fernet.decrypt(sealed)
        except InvalidToken as error:
            raise ValueError("secret cannot be decrypted with this secret key") from error

    def seal(self, document: dict[str, Any]) -> bytes:
        return self._fernet.encrypt(json.dumps(document, separators=(",", ":")).encode())

    def open(self, sealed: bytes) -> dict[str, Any]:
        try:
            opened: dict[str, Any] = json.loads(self._fernet.decrypt(sealed))
        except InvalidToken as error:
            raise ValueError("grant cannot be decrypted with this secret key") from error
        return opened
