"""``Stripe-Signature``: ``t=<unix>,v1=<hex HMAC-SHA256 of "t.body">`` per active secret."""

from __future__ import annotations

import hashlib
import hmac


def sign(body: str, timestamp: int, secrets: list[str]) -> str:
    parts = [f"t={timestamp}"]
    for secret in secrets:
        digest = hmac.new(
            secret.encode(), f"{timestamp}.{body}".encode(), hashlib.sha256
        ).hexdigest()
        parts.append(f"v1={digest}")
    return ",".join(parts)
