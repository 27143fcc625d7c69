"""The OAuth2 pre-step's token endpoint: authorization code + PKCE (S256), public
clients (any `client_id`, no secret: a real ASPSP knows the TPP by its certificate).

A code works once, ten wall-clock minutes, for the client and `redirect_uri` it was
issued to. Access tokens live an hour of the bank's clock, refresh tokens 180 days.
"""

from __future__ import annotations

import hmac
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from relink.sandbox_bank.clock import wall_clock
from relink.sandbox_bank.errors import BankError
from relink.sandbox_bank.models import Psd2Token
from relink.sandbox_bank.oauth import s256
from relink.sandbox_bank.psd2.aspsps import Psd2Aspsp
from relink.sandbox_bank.psd2.consents import find_token
from relink.sandbox_bank.store import hash_secret, new_secret

ACCESS_TOKEN_LIFETIME = timedelta(hours=1)
REFRESH_TOKEN_LIFETIME = timedelta(days=180)


def _invalid_grant(description: str) -> BankError:
    return BankError(400, "invalid_grant", description)


def _issue(session: Session, source: Psd2Token, now: datetime, *, refresh: bool) -> dict[str, Any]:
    access = new_secret("psd2at")
    tokens = [(access, "access", now + ACCESS_TOKEN_LIFETIME)]
    body: dict[str, Any] = {
        "access_token": access,
        "token_type": "Bearer",
        "expires_in": int(ACCESS_TOKEN_LIFETIME.total_seconds()),
        "scope": "AIS",
    }
    if refresh:
        refresh_token = new_secret("psd2rt")
        tokens.append((refresh_token, "refresh", now + REFRESH_TOKEN_LIFETIME))
        body["refresh_token"] = refresh_token
    for raw, kind, expires_at in tokens:
        session.add(
            Psd2Token(
                token_hash=hash_secret(raw),
                kind=kind,
                aspsp=source.aspsp,
                client_id=source.client_id,
                username=source.username,
                ibans=list(source.ibans),
                redirect_uri=None,
                code_challenge=None,
                expires_at=expires_at,
                used=False,
            )
        )
    return body


def token_endpoint(
    session: Session, bank: Psd2Aspsp, form: dict[str, str], now: datetime
) -> dict[str, Any]:
    grant_type = form.get("grant_type")
    client_id = form.get("client_id", "")
    if not client_id:
        raise BankError(400, "invalid_request", "client_id is required (a public client).")
    if grant_type == "authorization_code":
        code = find_token(session, form.get("code", ""), "code")
        if code is None or code.aspsp != bank.key or code.client_id != client_id:
            raise _invalid_grant("The authorization code is unknown.")
        if code.used:
            raise _invalid_grant("The authorization code was already used.")
        if code.expires_at <= wall_clock():
            raise _invalid_grant("The authorization code has expired.")
        if form.get("redirect_uri", "") != code.redirect_uri:
            raise _invalid_grant("redirect_uri does not match the authorization request.")
        verifier = form.get("code_verifier", "")
        if not 43 <= len(verifier) <= 128 or not hmac.compare_digest(
            s256(verifier), code.code_challenge or ""
        ):
            raise _invalid_grant("The PKCE code_verifier does not match.")
        code.used = True
        return _issue(session, code, now, refresh=True)
    if grant_type == "refresh_token":
        refresh = find_token(session, form.get("refresh_token", ""), "refresh")
        if refresh is None or refresh.aspsp != bank.key or refresh.client_id != client_id:
            raise _invalid_grant("The refresh token is unknown.")
        if refresh.expires_at <= now:
            raise _invalid_grant("The refresh token has expired.")
        return _issue(session, refresh, now, refresh=False)
    raise BankError(400, "unsupported_grant_type", "Use authorization_code or refresh_token.")
