"""The form fields the bank's routes decode, declared once for all its routers."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Form

FormStr = Annotated[str, Form()]
FormList = Annotated[list[str] | None, Form()]


def _token_request(
    grant_type: FormStr = "",
    code: FormStr = "",
    redirect_uri: FormStr = "",
    code_verifier: FormStr = "",
    refresh_token: FormStr = "",
) -> dict[str, str]:
    """An OAuth2 token request's grant (RFC 6749 4.1.3 and 6, with PKCE's verifier);
    how the client identifies itself differs by endpoint and is decoded there."""
    return {
        "grant_type": grant_type,
        "code": code,
        "redirect_uri": redirect_uri,
        "code_verifier": code_verifier,
        "refresh_token": refresh_token,
    }


TokenRequest = Annotated[dict[str, str], Depends(_token_request)]
