"""API key authentication: ``Authorization: Bearer sk_…`` (or Basic with the key as user)."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from dataclasses import dataclass

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from relink.db import Database
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
    # When the key was last marked used, as read when this request authenticated.
    last_used_at: dt.datetime | None = None


# "Last used" is written at most once a minute per key: precise enough for the
# dashboard's column, and a busy key costs one small UPDATE a minute, not one a request.
LAST_USED_GRANULARITY = dt.timedelta(minutes=1)


def record_key_use(database: Database, caller: Caller) -> None:
    """Mark the caller's key used now, unless it was marked within the last minute (the
    condition is in the UPDATE, so concurrent requests write it once)."""
    now = clock.now()
    if caller.last_used_at is not None and now - caller.last_used_at < LAST_USED_GRANULARITY:
        return
    with database.unit_of_work() as session:
        session.execute(
            update(ApiKey)
            .where(
                ApiKey.id == caller.key_id,
                or_(
                    ApiKey.last_used_at.is_(None),
                    ApiKey.last_used_at <= now - LAST_USED_GRANULARITY,
                ),
            )
            .values(last_used_at=now)
        )


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
            ApiKey.last_used_at,
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
    return Caller(
        scope=scope,
        key_id=row.id,
        default_api_version=row.default_api_version,
        last_used_at=row.last_used_at,
    )


def redact(key: str) -> str:
    if len(key) <= 12:
        return "*" * len(key)
    return key[:8] + "*" * (len(key) - 12) + key[-4:]
