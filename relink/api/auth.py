"""API key authentication: ``Authorization: Bearer sk_…`` (or Basic with the key as user)."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from relink.kit import clock
from relink.kit.crypto import token_digest
from relink.kit.errors import AuthenticationFailed
from relink.models import ApiKey, Platform
from relink.tenancy import Scope, platform_scope


@dataclass(frozen=True)
class Caller:
    scope: Scope
    key_id: str
    # The platform's default Stripe API version (for requests without Stripe-Version).
    default_api_version: str


def key_from_header(header: str | None) -> str:
    if not header:
        raise AuthenticationFailed(
            "You did not provide an API key. You need to provide your API key in the "
            "Authorization header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY')."
        )
    scheme, _, value = header.partition(" ")
    value = value.strip()
    if scheme.lower() == "bearer":
        return value
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            raise AuthenticationFailed("Invalid Basic authorization header.") from None
        return decoded.split(":", 1)[0]
    raise AuthenticationFailed(
        "Invalid authorization header: use Bearer auth with your secret key."
    )


def authenticate(session: Session, header: str | None) -> Caller:
    key = key_from_header(header)
    if not (key.startswith("sk_test_") or key.startswith("sk_live_")):
        raise AuthenticationFailed(f"Invalid API Key provided: {redact(key)}")
    row = session.execute(
        select(
            ApiKey.id,
            ApiKey.platform_id,
            ApiKey.livemode,
            ApiKey.revoked_at,
            ApiKey.expires_at,
            Platform.test_clock_offset_seconds,
            Platform.default_api_version,
        )
        .join(Platform, Platform.id == ApiKey.platform_id)
        .where(ApiKey.digest == token_digest(key))
    ).first()
    now = clock.now()
    if row is None or row.revoked_at is not None or (row.expires_at and row.expires_at <= now):
        raise AuthenticationFailed(f"Invalid API Key provided: {redact(key)}")
    scope = platform_scope(row.platform_id, row.livemode, row.test_clock_offset_seconds)
    return Caller(scope=scope, key_id=row.id, default_api_version=row.default_api_version)


def redact(key: str) -> str:
    if len(key) <= 12:
        return "*" * len(key)
    return key[:8] + "*" * (len(key) - 12) + key[-4:]
