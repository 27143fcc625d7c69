"""The holder's consent link (docs/consent.md): ``/consent/{token}``, where the token
names the platform, the mode, the holder and an expiry under a MAC with a server-held
key. Nothing about it is stored; a changed or expired token names no one.

Made for the consent receipt email and read by the holder's consent page.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from dataclasses import dataclass

from relink.kit.crypto import constant_time_equals
from relink.models import HolderType
from relink.runtime import Runtime
from relink.tenancy import Scope
from relink.web.csrf import csrf_token

PATH = "/consent"
LINK_PURPOSE = "holder-consent-link"
# How long a consent link opens the page (the receipt's link; a new one can be asked for).
VALID_FOR = dt.timedelta(days=30)
_MAC_CHARS = 43


@dataclass(frozen=True)
class ConsentHolder:
    """Whom a consent link is for: one holder of one platform in one mode."""

    platform_id: str
    livemode: bool
    holder_type: HolderType
    holder_id: str
    expires_at: dt.datetime


def _mac(runtime: Runtime, payload: str) -> str:
    return csrf_token(runtime.link_key, LINK_PURPOSE, payload)[:_MAC_CHARS]


def consent_token(
    runtime: Runtime, scope: Scope, holder_type: HolderType, holder_id: str, *, now: dt.datetime
) -> str:
    """A signed token for the holder's consent page, valid for :data:`VALID_FOR`."""
    expires = int((now + VALID_FOR).timestamp())
    payload = f"{scope.platform_id}:{int(scope.livemode)}:{holder_type}:{holder_id}:{expires}"
    encoded = base64.urlsafe_b64encode(payload.encode()).rstrip(b"=").decode()
    return f"{encoded}.{_mac(runtime, payload)}"


def consent_url(runtime: Runtime, token: str) -> str:
    return f"{runtime.settings.public_url.rstrip('/')}{PATH}/{token}"


def read_token(runtime: Runtime, token: str, *, now: dt.datetime) -> ConsentHolder | None:
    """The holder a token names, or ``None`` when Relink did not make it or it expired."""
    holder = authentic_token(runtime, token)
    return holder if holder is not None and holder.expires_at > now else None


def authentic_token(runtime: Runtime, token: str) -> ConsentHolder | None:
    """The holder a token names when Relink made it, expired or not (an expired link
    may still ask for a new one, sent to the address on file)."""
    encoded, _, mac = token.partition(".")
    try:
        payload = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    if not mac or not constant_time_equals(mac, _mac(runtime, payload)):
        return None
    platform_id, livemode, holder_type, holder_id, expires = payload.split(":")
    expires_at = dt.datetime.fromtimestamp(int(expires), dt.UTC)
    return ConsentHolder(
        platform_id, livemode == "1", HolderType(holder_type), holder_id, expires_at
    )
