"""The sandbox connector: every test institution, served by the sandbox bank over HTTP.

OAuth institutions go through the bank's authorization server (via `OAuth2Connector`,
with the bank's `institution` authorize parameter); credential institutions through its
login API. Data calls use the same JSON API for both.

Each call carries `Relink-Sandbox-Time` from the `now` clock given to the constructor,
so the platform's shifted sandbox clock decides consent and TAN expiry at the bank.

Build one per (institution, platform clock):

    SandboxConnector(SandboxConfig(base_url="http://127.0.0.1:8000/sandbox-bank",
                                   institution="bank_oauth"), http=client, now=clock)

`http` may be any `httpx.Client` (for an in-process bank, one built on a transport
that calls the ASGI app); the caller owns and closes it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

from relink.connectors.base import (
    Challenge,
    ChallengeKind,
    CredentialForm,
    Grant,
    Health,
    IncorrectAnswer,
    InvalidCredentials,
    Redirect,
    Unexpected,
    Waiting,
)
from relink.connectors.oauth2 import wire
from relink.connectors.oauth2.connector import Clock, OAuth2Config, OAuth2Connector
from relink.sandbox_bank.clock import SANDBOX_TIME_HEADER
from relink.sandbox_bank.institutions import INSTITUTIONS_BY_KEY, SandboxInstitution
from relink.sandbox_bank.store import SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET

_CHALLENGE_KINDS: tuple[ChallengeKind, ...] = (
    "one_time_code",
    "confirm_code",
    "options",
    "security_question",
)


@dataclass(frozen=True, slots=True)
class SandboxConfig:
    base_url: str  # where the sandbox bank is reachable, e.g. http://host/sandbox-bank
    institution: str  # a key of SANDBOX_INSTITUTIONS
    client_id: str = SANDBOX_CLIENT_ID
    client_secret: str = SANDBOX_CLIENT_SECRET
    timeout_seconds: float = 10.0


def _utc_now() -> datetime:
    return datetime.now(UTC)


class SandboxConnector(OAuth2Connector):
    supports_relink = True
    sends_login_hint = True

    def __init__(
        self,
        config: SandboxConfig,
        *,
        http: httpx.Client | None = None,
        now: Clock | None = None,
    ) -> None:
        institution = INSTITUTIONS_BY_KEY.get(config.institution)
        if institution is None:
            raise ValueError(f"unknown sandbox institution {config.institution!r}")
        self.sandbox = config
        self.institution: SandboxInstitution = institution
        base = config.base_url.rstrip("/")
        self._sandbox_now = now or _utc_now
        super().__init__(
            OAuth2Config(
                authorize_url=f"{base}/oauth/authorize",
                token_url=f"{base}/oauth/token",
                revoke_url=f"{base}/oauth/revoke",
                api_base_url=f"{base}/api/v1",
                status_url=f"{base}/api/v1/institutions/{institution.key}",
                client_id=config.client_id,
                client_secret=config.client_secret,
                authorize_params={"institution": institution.key},
                timeout_seconds=config.timeout_seconds,
            ),
            http=http,
            now=self._sandbox_now,
            extra_headers=self._time_header,
        )
        self._base = base

    def _time_header(self) -> Mapping[str, str]:
        return {SANDBOX_TIME_HEADER: str(int(self._sandbox_now().timestamp()))}

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
        if self.institution.auth_kind == "oauth":
            return super().begin_auth(
                state=state, redirect_uri=redirect_uri, login_hint=login_hint, locale=locale
            )
        return CredentialForm(
            hint="Sandbox: any username and password work; see the sandbox bank docs "
            "for the keywords that trigger challenges."
        )

    def _grant_from_tokens(self, tokens: dict[str, Any], previous: Grant | None = None) -> Grant:
        grant = super()._grant_from_tokens(tokens, previous)
        # The bank names the login the holder signed in to (Relink's ``bank_user``).
        grant.login = str(tokens["username"]) if tokens.get("username") else None
        return grant

    def _login_answer(self, response: httpx.Response) -> Grant | Challenge:
        if response.status_code == 200:
            body = wire.json_body(response)
            if body.get("status") == "authenticated":
                return self._grant_from_tokens(body)
            return self._challenge(body)
        body = _maybe_json(response)
        if response.status_code == 401 and body.get("error") == "incorrect_answer":
            raise IncorrectAnswer(
                str(body.get("error_description")), challenge=self._challenge(body)
            )
        if response.status_code == 401 and body.get("error") == "invalid_credentials":
            raise InvalidCredentials(str(body.get("error_description")))
        if response.status_code == 400 and body.get("error") == "login_failed":
            raise Unexpected(str(body.get("error_description")))
        wire.raise_bank_error(response)

    @staticmethod
    def _challenge(body: dict[str, Any]) -> Challenge:
        data = body.get("challenge")
        if not isinstance(data, dict) or data.get("kind") not in _CHALLENGE_KINDS:
            raise Unexpected("the bank sent a challenge this connector does not know")
        kind = next(k for k in _CHALLENGE_KINDS if k == data["kind"])
        return Challenge(
            kind=kind,
            prompt=str(data.get("prompt") or ""),
            continuation=str(body["login_id"]),
            options=tuple(str(o) for o in data.get("options") or ()),
            hint=str(data["hint"]) if data.get("hint") else None,
        )

    def submit_credentials(
        self,
        *,
        username: str,
        password: str,
        login_hint: str | None = None,
        locale: str | None = None,
    ) -> Grant | Challenge:
        if self.institution.auth_kind == "oauth":
            return super().submit_credentials(username=username, password=password)
        payload = {"institution": self.institution.key, "username": username, "password": password}
        if login_hint:
            payload["login_hint"] = login_hint
        if locale:
            payload["locale"] = locale
        response = self._send("POST", f"{self._base}/api/v1/logins", json=payload)
        return self._login_answer(response)

    def answer_challenge(
        self, challenge: Challenge, answer: str, *, locale: str | None = None
    ) -> Grant | Challenge:
        response = self._send(
            "POST",
            f"{self._base}/api/v1/logins/{challenge.continuation}/answer",
            json={"answer": answer, **({"locale": locale} if locale else {})},
        )
        return self._login_answer(response)

    # ------------------------------------------------------------------ test helpers

    def sandbox_controls(self) -> SandboxConnector:
        return self

    def set_test_outage(self, health: Health) -> None:
        """Put this institution down, degraded or back up at the sandbox bank."""
        response = self._send(
            "POST",
            f"{self._base}/sandbox/institutions/{self.institution.key}/outage",
            json={"status": health.value},
            auth=self._client_auth(),
        )
        if response.status_code != 204:
            wire.raise_bank_error(response)

    def create_test_grant(
        self,
        *,
        username: str,
        account_stable_ids: list[str] | None = None,
        reauthentication: bool = False,
    ) -> Grant:
        """A grant as if `username` had just authenticated (Relink's test-helper accounts).

        `reauthentication=False` behaves like the holder's first authentication (so the
        institution's "after linking" behaviours apply).
        """
        payload: dict[str, Any] = {
            "institution": self.institution.key,
            "username": username,
            "reauthentication": reauthentication,
        }
        if account_stable_ids is not None:
            payload["accounts"] = account_stable_ids
        response = self._send(
            "POST", f"{self._base}/sandbox/grants", json=payload, auth=self._client_auth()
        )
        if response.status_code != 200:
            wire.raise_bank_error(response)
        return self._grant_from_tokens(wire.json_body(response))

    def _control(self, grant: Grant, path: str, payload: dict[str, Any]) -> None:
        token = grant.secrets.get("access_token") or grant.secrets.get("refresh_token") or ""
        response = self._send(
            "POST",
            f"{self._base}/sandbox/grant/{path}",
            json=payload,
            headers={"Authorization": f"Bearer {token}"},
        )
        if response.status_code != 204:
            wire.raise_bank_error(response)

    def deactivate_test_grant(
        self, grant: Grant, cause: str, *, account_stable_id: str | None = None
    ) -> None:
        """Make the bank answer as if `cause` happened: access_denied, access_expired,
        mfa_required, institution_requirement, account_closed, account_unavailable."""
        self._control(grant, "deactivate", {"cause": cause, "account": account_stable_id})

    def update_test_account_numbers(
        self,
        grant: Grant,
        account_stable_id: str,
        *,
        status: str | None = None,
        expected_expiry_date: datetime | None = None,
    ) -> None:
        """Change the TAN the bank reports for this grant's account."""
        expiry = int(expected_expiry_date.timestamp()) if expected_expiry_date else None
        self._control(
            grant,
            "payment_networks",
            {"account": account_stable_id, "status": status, "expected_expiry_date": expiry},
        )


def _maybe_json(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
