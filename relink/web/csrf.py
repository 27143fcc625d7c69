"""CSRF tokens bound to something the attacker cannot read or set.

A token is ``HMAC(key, purpose + binding)``: for a dashboard form the binding is the
login session id (in an HttpOnly cookie); for a hosted page it is the link token's
digest. Forms carry the token in a hidden field; state-changing requests without a
valid one are refused.
"""

from __future__ import annotations

import hashlib
import hmac


class CsrfError(Exception):
    pass


def csrf_token(key: bytes, purpose: str, binding: str) -> str:
    return hmac.new(key, f"{purpose}:{binding}".encode(), hashlib.sha256).hexdigest()


def verify_csrf(key: bytes, purpose: str, binding: str, token: str | None) -> None:
    expected = csrf_token(key, purpose, binding)
    if not token or not hmac.compare_digest(expected, token):
        raise CsrfError("The form has expired or did not come from this site. Please try again.")
