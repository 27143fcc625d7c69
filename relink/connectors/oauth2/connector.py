"""A generic OAuth2 bank connector: authorization code + PKCE, refresh tokens, JSON API.

Configured per live institution by URLs and client credentials (`OAuth2Config`). The
JSON accounts API it expects is the sandbox bank's (see `wire.py`).

Grant secrets: `access_token`, `refresh_token` (may be absent), `access_expires_at`
(unix seconds by this connector's clock). An access token that is expired, or that the
bank answers 401 `token_expired` / `invalid_token` without a reason, is refreshed once
transparently; the new token lands in the grant (`grant.rotated` becomes true).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
from authlib.common.security import generate_token
from authlib.oauth2.rfc6749.parameters import prepare_grant_uri, prepare_token_request
from authlib.oauth2.rfc7636 import create_s256_code_challenge

from relink.connectors.base import (
    AccessDenied,
    Balance,
    BankAccount,
    Challenge,
    Connector,
    CredentialForm,
    Grant,
    Health,
    InstitutionDown,
    Owner,
    Redirect,
    Tan,
    Transaction,
    Unexpected,
    Waiting,
)
from relink.connectors.oauth2 import wire

Clock = Callable[[], datetime]
HeaderSource = Callable[[], Mapping[str, str]]

DEFAULT_SCOPE = "accounts balances ownership transactions payment_networks"
# Refresh a little before the bank would refuse the token.
_EXPIRY_MARGIN = timedelta(seconds=30)


@dataclass(frozen=True, slots=True)
class OAuth2Config:
    authorize_url: str
    token_url: str
    api_base_url: str
    client_id: str
    client_secret: str
    revoke_url: str | None = None
    status_url: str | None = None
    scope: str = DEFAULT_SCOPE
    authorize_params: Mapping[str, str] = field(default_factory=dict)
    timeout_seconds: float = 10.0


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _no_headers() -> Mapping[str, str]:
    return {}


class OAuth2Connector(Connector):
    supports_relink = True
    #: Whether the authorize request carries OpenID Connect's ``login_hint`` on a relink.
    #: Off for a generic bank (its behaviour on it is unknown); the sandbox bank reads it.
    sends_login_hint = False

    def __init__(
        self,
        config: OAuth2Config,
        *,
        http: httpx.Client | None = None,
        now: Clock | None = None,
        extra_headers: HeaderSource | None = None,
    ) -> None:
        """`http` is shared and owned by the caller; without it the connector makes its
        own (close it with `close()`). `now` is the clock used for token expiry."""
        self.config = config
        self._owns_http = http is None
        self._http = http or httpx.Client(timeout=config.timeout_seconds)
        self._now = now or _utc_now
        self._extra_headers = extra_headers or _no_headers

    def close(self) -> None:
        if self._owns_http:
            self._http.close()

    # ------------------------------------------------------------------ HTTP

    def _send(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        merged = {"Accept": "application/json", **self._extra_headers(), **(headers or {})}
        try:
            return self._http.request(
                method, url, headers=merged, timeout=self.config.timeout_seconds, **kwargs
            )
        except httpx.TransportError as error:
            raise wire.transport_failure(error) from None

    def _client_auth(self) -> httpx.BasicAuth:
        return httpx.BasicAuth(self.config.client_id, self.config.client_secret)

    def _token_request(self, body: str) -> dict[str, Any]:
        response = self._send(
            "POST",
            self.config.token_url,
            content=body,
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            auth=self._client_auth(),
        )
        if response.status_code != 200:
            wire.raise_bank_error(response)
        return wire.json_body(response)

    def _grant_from_tokens(self, tokens: dict[str, Any], previous: Grant | None = None) -> Grant:
        secrets = dict(previous.secrets) if previous is not None else {}
        secrets["access_token"] = str(tokens["access_token"])
        if tokens.get("refresh_token"):
            secrets["refresh_token"] = str(tokens["refresh_token"])
        if tokens.get("expires_in") is not None:
            expires = self._now() + timedelta(seconds=int(tokens["expires_in"]))
            secrets["access_expires_at"] = str(int(expires.timestamp()))
        else:
            secrets.pop("access_expires_at", None)
        return Grant(
            secrets=secrets,
            expected_deactivation_date=wire.timestamp(tokens.get("consent_expires_at")),
        )

    def _refresh(self, grant: Grant) -> None:
        refresh_token = grant.secrets.get("refresh_token")
        if not refresh_token:
            raise AccessDenied("the access token expired and there is no refresh token")
        tokens = self._token_request(
            prepare_token_request("refresh_token", refresh_token=refresh_token)
        )
        fresh = self._grant_from_tokens(tokens, previous=grant)
        grant.replace_secrets(fresh.secrets)
        if fresh.expected_deactivation_date != grant.expected_deactivation_date:
            grant.expected_deactivation_date = fresh.expected_deactivation_date
            grant.rotated = True

    def _access_expired(self, grant: Grant) -> bool:
        raw = grant.secrets.get("access_expires_at")
        if raw is None:
            return False
        return datetime.fromtimestamp(int(raw), UTC) <= self._now() + _EXPIRY_MARGIN

    @staticmethod
    def _token_expired_answer(response: httpx.Response) -> bool:
        if response.status_code != 401:
            return False
        try:
            body = response.json()
        except ValueError:
            return False
        if not isinstance(body, dict) or body.get("error") != "invalid_token":
            return False
        return body.get("error_reason") in (None, "token_expired")

    def _api_get(
        self, grant: Grant, path: str, params: Mapping[str, str] | None = None
    ) -> dict[str, Any]:
        if "access_token" not in grant.secrets:
            raise Unexpected("grant has no access token")
        if self._access_expired(grant) and grant.secrets.get("refresh_token"):
            self._refresh(grant)
        url = f"{self.config.api_base_url.rstrip('/')}/{path.lstrip('/')}"
        for attempt in range(2):
            response = self._send(
                "GET",
                url,
                params=params,
                headers={"Authorization": f"Bearer {grant.secrets['access_token']}"},
            )
            if response.status_code == 200:
                return wire.json_body(response)
            if attempt == 0 and self._token_expired_answer(response):
                if not grant.secrets.get("refresh_token"):
                    wire.raise_bank_error(response)
                self._refresh(grant)
                continue
            wire.raise_bank_error(response)
        raise Unexpected("the bank kept refusing a freshly refreshed token")

    # ------------------------------------------------------------------ auth

    def begin_auth(
        self,
        *,
        state: str,
        redirect_uri: str,
        accounts: Sequence[str] = (),
        login_hint: str | None = None,
        locale: str | None = None,
    ) -> Redirect | CredentialForm | Waiting:
        code_verifier = generate_token(64)
        extra = dict(self.config.authorize_params)
        if login_hint and self.sends_login_hint:
            extra["login_hint"] = login_hint
        if locale:
            # OpenID Connect's ui_locales; an OAuth server ignores what it does not know.
            extra["ui_locales"] = locale
        url = prepare_grant_uri(
            self.config.authorize_url,
            self.config.client_id,
            "code",
            redirect_uri=redirect_uri,
            scope=self.config.scope,
            state=state,
            code_challenge=create_s256_code_challenge(code_verifier),
            code_challenge_method="S256",
            **extra,
        )
        return Redirect(url=str(url), state=state, code_verifier=code_verifier)

    def authorization_origins(self) -> list[str]:
        parts = urlsplit(self.config.authorize_url)
        return [f"{parts.scheme}://{parts.netloc}"]

    def complete_oauth(self, *, code: str, code_verifier: str, redirect_uri: str) -> Grant:
        body = prepare_token_request(
            "authorization_code",
            code=code,
            redirect_uri=redirect_uri,
            code_verifier=code_verifier,
        )
        try:
            tokens = self._token_request(body)
        except (AccessDenied, Unexpected) as error:
            # a refused code is a failed link, not a revoked consent
            raise Unexpected(f"the bank refused the authorization code: {error}") from None
        return self._grant_from_tokens(tokens)

    def submit_credentials(
        self,
        *,
        username: str,
        password: str,
        login_hint: str | None = None,
        locale: str | None = None,
    ) -> Grant | Challenge:
        raise Unexpected("this institution signs in through OAuth")

    def answer_challenge(
        self, challenge: Challenge, answer: str, *, locale: str | None = None
    ) -> Grant | Challenge:
        raise Unexpected("this institution signs in through OAuth")

    # ------------------------------------------------------------------ data

    def list_accounts(self, grant: Grant) -> list[BankAccount]:
        body = self._api_get(grant, "accounts")
        return [wire.parse_account(item) for item in body.get("data", [])]

    def account_numbers(self, grant: Grant, account_stable_id: str) -> list[Tan]:
        return wire.parse_tans(
            self._api_get(grant, f"accounts/{account_stable_id}/payment_networks")
        )

    def refresh_balance(self, grant: Grant, account_stable_id: str) -> Balance:
        return wire.parse_balance(self._api_get(grant, f"accounts/{account_stable_id}/balances"))

    def refresh_ownership(self, grant: Grant, account_stable_id: str) -> list[Owner]:
        return wire.parse_owners(self._api_get(grant, f"accounts/{account_stable_id}/owners"))

    def refresh_transactions(
        self, grant: Grant, account_stable_id: str, *, since: datetime | None = None
    ) -> list[Transaction]:
        params = {"since": str(int(since.timestamp()))} if since is not None else None
        body = self._api_get(grant, f"accounts/{account_stable_id}/transactions", params)
        return wire.parse_transactions(body)

    def consent_expiry(self, grant: Grant) -> datetime | None:
        expiry = wire.timestamp(self._api_get(grant, "consent").get("expires_at"))
        if expiry != grant.expected_deactivation_date:
            grant.expected_deactivation_date = expiry
            grant.rotated = True
        return expiry

    def revoke(self, grant: Grant) -> None:
        if self.config.revoke_url is None:
            return
        token = grant.secrets.get("refresh_token") or grant.secrets.get("access_token")
        if not token:
            return
        response = self._send(
            "POST", self.config.revoke_url, data={"token": token}, auth=self._client_auth()
        )
        if response.status_code >= 500 or response.status_code == 429:
            wire.raise_bank_error(response)

    def health(self) -> Health:
        if self.config.status_url is None:
            return Health.active
        try:
            response = self._send("GET", self.config.status_url)
            status = wire.json_body(response).get("status") if response.is_success else None
        except (InstitutionDown, Unexpected):
            return Health.degraded
        if status in (Health.active, Health.inactive):
            return Health(status)
        return Health.degraded
