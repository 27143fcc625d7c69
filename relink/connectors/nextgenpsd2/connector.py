"""The NextGenPSD2 (Berlin Group XS2A) connector: account information under a consent.

Link: `POST /v1/consents` (bank-offered: the holder picks the accounts at the bank), the
holder authorises it at the bank (redirect to `scaRedirect`, the OAuth2 pre-step with
PKCE first when configured, or decoupled in the bank's app while Relink polls), then the
consent's status is read until `valid`. Relink: the same, for the accounts' IBANs.

Grant secrets: `consent_id`, `valid_until` (ISO date), `accounts` (JSON: stable id →
the bank's `resourceId` in this consent), `usage` (JSON: today's unattended reads per
account and endpoint), and with OAuth `access_token`, `refresh_token`,
`access_expires_at` (unix seconds).

PSU headers (`PSU-IP-Address`, `PSU-User-Agent`, `PSU-Accept-Language`) are sent only
when the holder is present (`psu`); unattended reads (the worker's refreshes) carry none
and are limited to `frequencyPerDay` per account and endpoint per UTC day, counted in
the grant, before the bank is asked. Every request has a fresh `X-Request-ID`.
"""

from __future__ import annotations

import datetime as dt
import json
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

import httpx
import structlog
from authlib.common.security import generate_token
from authlib.oauth2.rfc6749.parameters import prepare_grant_uri, prepare_token_request
from authlib.oauth2.rfc7636 import create_s256_code_challenge

from relink.connectors.base import (
    AccessDenied,
    AccessExpired,
    AccountUnavailable,
    Balance,
    BankAccount,
    Challenge,
    Connector,
    ConnectorError,
    CredentialForm,
    Grant,
    Health,
    InstitutionDown,
    Owner,
    PsuContext,
    RateLimited,
    Redirect,
    SignInCancelled,
    Tan,
    Transaction,
    Unexpected,
    Waiting,
)
from relink.connectors.nextgenpsd2 import wire
from relink.connectors.nextgenpsd2.config import Psd2Settings, ScaApproach
from relink.sandbox_bank.clock import SANDBOX_TIME_HEADER

log = structlog.get_logger("relink.connectors.nextgenpsd2")

Clock = Callable[[], dt.datetime]

# How often the consent's status is read when the holder is back but the bank has not
# finished yet (it may lag its own redirect a moment).
_STATUS_READS = 3
_STATUS_PAUSE_SECONDS = 0.3
# Refresh an OAuth access token a little before the bank would refuse it.
_TOKEN_MARGIN = dt.timedelta(seconds=30)
_MAX_TRANSACTION_PAGES = 50


class NextGenPsd2Connector(Connector):
    supports_relink = True
    # A relink's new consent replaces the old one, which Relink then ends at the bank.
    ends_replaced_grant = True

    def __init__(
        self,
        settings: Psd2Settings,
        *,
        http: httpx.Client,
        now: Clock,
        psu: PsuContext | None = None,
    ) -> None:
        """`http` is owned by the caller and carries the TLS client certificate."""
        self.settings = settings
        self._http = http
        self._now = now
        self._psu = psu
        self._api = f"{settings.base_url}/v1"
        self._timeout = httpx.Timeout(
            settings.read_timeout_seconds, connect=settings.connect_timeout_seconds
        )

    # ------------------------------------------------------------------ HTTP

    def _headers(self, grant_secrets: Mapping[str, str] | None = None) -> dict[str, str]:
        headers = {"Accept": "application/json", "X-Request-ID": str(uuid.uuid4())}
        if self.settings.sandbox_clock:
            headers[SANDBOX_TIME_HEADER] = str(int(self._now().timestamp()))
        if self._psu is not None:
            headers["PSU-IP-Address"] = self._psu.ip_address
            if self._psu.user_agent:
                headers["PSU-User-Agent"] = self._psu.user_agent
            if self._psu.accept_language:
                headers["PSU-Accept-Language"] = self._psu.accept_language
        if grant_secrets and grant_secrets.get("access_token"):
            headers["Authorization"] = f"Bearer {grant_secrets['access_token']}"
        return headers

    def _send(
        self,
        method: str,
        url: str,
        *,
        what: str,
        headers: Mapping[str, str],
        ok: tuple[int, ...] = (200,),
        **kwargs: Any,
    ) -> httpx.Response:
        try:
            response = self._http.request(
                method, url, headers=dict(headers), timeout=self._timeout, **kwargs
            )
        except httpx.TransportError as error:
            raise InstitutionDown(
                f"{what}: bank unreachable ({type(error).__name__})",
                retry_after=None,
                scheduled=False,
            ) from None
        if response.status_code not in ok:
            raise self._failure(response, what)
        return response

    def _failure(self, response: httpx.Response, what: str) -> ConnectorError:
        try:
            body: Any = response.json()
        except ValueError:
            body = None
        error = wire.bank_error(response.status_code, body, response.headers, what=what)
        log.info(
            "nextgenpsd2.bank_error",
            what=what,
            status=response.status_code,
            codes=list(error.bank_codes),
            request_id=response.request.headers.get("X-Request-ID"),
            error=type(error).__name__,
        )
        return error

    @staticmethod
    def _json(response: httpx.Response) -> dict[str, Any]:
        try:
            body = response.json()
        except ValueError:
            raise Unexpected(f"bank answered {response.status_code} without JSON") from None
        if not isinstance(body, dict):
            raise Unexpected("bank answered with JSON that is not an object")
        return body

    def _get(
        self,
        grant: Grant,
        path: str,
        *,
        what: str,
        params: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        """An AIS read under the grant's consent (refreshing an OAuth token once)."""
        self._fresh_token(grant)
        url = path if path.startswith("http") else f"{self._api}{path}"
        for attempt in range(2):
            headers = self._headers(grant.secrets)
            headers["Consent-ID"] = grant.secrets["consent_id"]
            try:
                return self._json(self._send("GET", url, what=what, headers=headers, params=params))
            except AccessDenied as denied:
                if (
                    attempt == 0
                    and "TOKEN_EXPIRED" in denied.bank_codes
                    and self._can_refresh(grant)
                ):
                    self._refresh_token(grant)
                    continue
                raise
        raise Unexpected("the bank kept refusing a freshly refreshed token")

    # ------------------------------------------------------------------ OAuth2 pre-step

    def _can_refresh(self, grant: Grant) -> bool:
        return bool(grant.secrets.get("refresh_token")) and self.settings.oauth is not None

    def _fresh_token(self, grant: Grant) -> None:
        raw = grant.secrets.get("access_expires_at")
        if raw is None or not self._can_refresh(grant):
            return
        if dt.datetime.fromtimestamp(int(raw), dt.UTC) <= self._now() + _TOKEN_MARGIN:
            self._refresh_token(grant)

    def _token_request(self, body: str, what: str) -> dict[str, str]:
        oauth = self.settings.oauth
        assert oauth is not None
        headers = self._headers()
        headers["Content-Type"] = "application/x-www-form-urlencoded"
        tokens = self._json(
            self._send("POST", oauth.token_url, what=what, headers=headers, content=body)
        )
        if not tokens.get("access_token"):
            raise Unexpected("the bank's token answer has no access_token")
        secrets = {"access_token": str(tokens["access_token"])}
        if tokens.get("refresh_token"):
            secrets["refresh_token"] = str(tokens["refresh_token"])
        if tokens.get("expires_in") is not None:
            expires = self._now() + dt.timedelta(seconds=int(tokens["expires_in"]))
            secrets["access_expires_at"] = str(int(expires.timestamp()))
        return secrets

    def _refresh_token(self, grant: Grant) -> None:
        oauth = self.settings.oauth
        assert oauth is not None
        body = prepare_token_request(
            "refresh_token",
            refresh_token=grant.secrets["refresh_token"],
            client_id=oauth.client_id,
        )
        try:
            tokens = self._token_request(body, "POST token (refresh)")
        except Unexpected:
            raise AccessDenied("the bank refused to refresh the access token") from None
        grant.replace_secrets({**grant.secrets, **tokens})

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
        wanted = json.dumps(list(accounts))
        if self.settings.approach == ScaApproach.oauth:
            oauth = self.settings.oauth
            assert oauth is not None
            verifier = generate_token(64)
            url = prepare_grant_uri(
                oauth.authorize_url,
                oauth.client_id,
                "code",
                redirect_uri=redirect_uri,
                scope=oauth.scope,
                state=state,
                code_challenge=create_s256_code_challenge(verifier),
                code_challenge_method="S256",
            )
            return Redirect(
                url=str(url),
                state=state,
                code_verifier=verifier,
                carried={"phase": "oauth", "code_verifier": verifier, "accounts": wanted},
            )
        created = self._create_consent(state, redirect_uri, {"accounts": wanted})
        if isinstance(created, _Valid):
            # Valid at once: the waiting page moves on at its first look.
            return Waiting(carried=created.carried, poll_after_seconds=0)
        return created

    def _create_consent(
        self, state: str, redirect_uri: str, carried: Mapping[str, str]
    ) -> Redirect | Waiting | _Valid:
        if self._psu is None:
            # PSU-IP-Address is required here, and it must be the holder's: never made up.
            raise Unexpected("a consent is only requested while the holder is present")
        accounts = [str(a) for a in json.loads(carried.get("accounts") or "[]")]
        until = self._now().astimezone(self.settings.zone).date() + dt.timedelta(
            days=self.settings.consent_valid_days
        )
        headers = self._headers(carried)
        headers["Content-Type"] = "application/json"
        decoupled = self.settings.approach == ScaApproach.decoupled
        if decoupled:
            headers["TPP-Decoupled-Preferred"] = "true"
        else:
            headers["TPP-Redirect-Preferred"] = "true"
            headers["TPP-Redirect-URI"] = _bound(redirect_uri, state, "ok")
            headers["TPP-Nok-Redirect-URI"] = _bound(redirect_uri, state, "nok")
        response = self._send(
            "POST",
            f"{self._api}/consents",
            what="POST /v1/consents",
            headers=headers,
            ok=(201,),
            json=wire.consent_request(
                valid_until=until,
                frequency_per_day=self.settings.frequency_per_day,
                accounts=accounts,
            ),
        )
        created = wire.parse_consent_created(self._json(response), response.headers)
        kept = {**carried, "phase": "consent", "consent_id": created.consent_id}
        kept.pop("code_verifier", None)
        if created.status == "valid":
            return _Valid(kept)  # no further SCA (e.g. after the OAuth2 pre-step)
        if created.status == "rejected":
            raise Unexpected("the bank rejected the consent request")
        if decoupled or created.approach == "DECOUPLED":
            return Waiting(
                carried=self._decoupled(created, kept),
                poll_after_seconds=self.settings.poll_interval_seconds,
            )
        url = created.sca_redirect or self._start_redirect(created, kept)
        return Redirect(url=url, state=state, code_verifier="", carried=kept)

    def _start_authorisation(self, url: str, carried: Mapping[str, str]) -> dict[str, Any]:
        headers = self._headers(carried)
        headers["Content-Type"] = "application/json"
        return self._json(
            self._send(
                "POST",
                _absolute(self._api, url),
                what="POST /v1/consents/{id}/authorisations",
                headers=headers,
                ok=(201,),
                json={},
            )
        )

    def _start_redirect(self, created: wire.ConsentCreated, carried: Mapping[str, str]) -> str:
        """Explicit start of the authorisation, where the bank asks for it first."""
        if created.start_authorisation is None:
            raise Unexpected("the bank gave no way to authorise the consent")
        body = self._start_authorisation(created.start_authorisation, carried)
        link = (body.get("_links") or {}).get("scaRedirect") or {}
        if not link.get("href"):
            raise Unexpected("the bank's authorisation has no scaRedirect link")
        return str(link["href"])

    def _decoupled(
        self, created: wire.ConsentCreated, carried: Mapping[str, str]
    ) -> dict[str, str]:
        """The authorisation to poll: started now, or the one the bank began implicitly."""
        if created.sca_status is not None:
            return {**carried, "sca_status_url": _absolute(self._api, created.sca_status)}
        if created.start_authorisation is None:
            raise Unexpected("the bank gave no authorisation to approve in its app")
        body = self._start_authorisation(created.start_authorisation, carried)
        authorisation_id, _, status_link = wire.started_authorisation(body)
        status_url = status_link or (
            f"{self._api}/consents/{created.consent_id}/authorisations/{authorisation_id}"
        )
        return {**carried, "sca_status_url": _absolute(self._api, status_url)}

    def authorization_origins(self) -> list[str]:
        """The bank's own origin (its scaRedirect pages), the OAuth server's, and any the
        institution names in `sca_redirect_origins`."""
        urls = [self.settings.base_url, *self.settings.sca_redirect_origins]
        if self.settings.oauth is not None:
            urls.append(self.settings.oauth.authorize_url)
        origins: list[str] = []
        for url in urls:
            parts = urlsplit(url)
            origin = f"{parts.scheme}://{parts.netloc}"
            if origin not in origins:
                origins.append(origin)
        return origins

    def complete_oauth(self, *, code: str, code_verifier: str, redirect_uri: str) -> Grant:
        raise Unexpected("NextGenPSD2 completes through complete_return")

    def complete_return(
        self,
        *,
        params: Mapping[str, str],
        carried: Mapping[str, str],
        redirect_uri: str,
        next_state: str,
    ) -> Grant | Redirect | Waiting:
        if carried.get("phase") == "oauth":
            return self._after_oauth(params, carried, redirect_uri, next_state)
        if carried.get("phase") != "consent" or not carried.get("consent_id"):
            raise Unexpected("the holder came back to a flow that sent nobody to the bank")
        status = self._consent_status(carried)
        for _ in range(_STATUS_READS - 1):
            if status != "received" or params.get("outcome") == "nok":
                break
            time.sleep(_STATUS_PAUSE_SECONDS)
            status = self._consent_status(carried)
        if status == "valid":
            return self._granted(carried)
        if params.get("outcome") == "nok":
            # The Nok URI is all a bank says of a holder who cancelled (or gave up on
            # the codes): the consent is rejected either way. The holder may try again.
            raise SignInCancelled("the holder did not authorise the consent at the bank")
        if status == "rejected":
            raise Unexpected("the bank rejected the consent")
        if status == "received":
            raise SignInCancelled("the holder did not authorise the consent at the bank")
        raise Unexpected(f"the consent is {status} after the holder came back")

    def _after_oauth(
        self,
        params: Mapping[str, str],
        carried: Mapping[str, str],
        redirect_uri: str,
        next_state: str,
    ) -> Grant | Redirect | Waiting:
        error, code = params.get("error"), params.get("code")
        if error == "access_denied" or (error is None and not code):
            raise SignInCancelled("the holder cancelled the bank's sign-in")
        if error is not None:
            raise Unexpected(f"bank answered the authorization with {error!r}")
        oauth = self.settings.oauth
        assert oauth is not None
        body = prepare_token_request(
            "authorization_code",
            code=code,
            redirect_uri=redirect_uri,
            code_verifier=carried.get("code_verifier", ""),
            client_id=oauth.client_id,
        )
        tokens = self._token_request(body, "POST token")
        created = self._create_consent(next_state, redirect_uri, {**carried, **tokens})
        return self._granted(created.carried) if isinstance(created, _Valid) else created

    def poll(self, *, carried: Mapping[str, str]) -> Grant | Waiting:
        """The consent's status decides; while it is still `received`, the
        authorisation's `scaStatus` says whether the holder refused in the app."""
        waiting = Waiting(carried=carried, poll_after_seconds=self.settings.poll_interval_seconds)
        status = self._consent_status(carried)
        if status == "valid":
            return self._granted(carried)
        if status == "rejected":
            raise Unexpected("the bank rejected the consent")
        if status not in ("received", "partiallyAuthorised"):
            wire.raise_for_consent_status(status)
        url = carried.get("sca_status_url")
        if url:
            answer = self._send(
                "GET",
                url,
                what="GET /v1/consents/{id}/authorisations/{id}",
                headers=self._headers(carried),
            )
            if wire.sca_status(self._json(answer)) == "failed":
                raise Unexpected("the holder's approval failed at the bank")
        return waiting

    def _consent_status(self, carried: Mapping[str, str]) -> str:
        answer = self._send(
            "GET",
            f"{self._api}/consents/{carried['consent_id']}/status",
            what="GET /v1/consents/{id}/status",
            headers=self._headers(carried),
        )
        return wire.consent_status(self._json(answer))

    def _granted(self, carried: Mapping[str, str]) -> Grant:
        """The consent is valid: read what the bank granted (it may adjust validUntil)."""
        consent_id = carried["consent_id"]
        answer = self._json(
            self._send(
                "GET",
                f"{self._api}/consents/{consent_id}",
                what="GET /v1/consents/{id}",
                headers=self._headers(carried),
            )
        )
        until = wire.valid_until(answer)
        secrets = {
            key: carried[key]
            for key in ("access_token", "refresh_token", "access_expires_at")
            if carried.get(key)
        }
        secrets.update(
            {"consent_id": consent_id, "valid_until": until.isoformat(), "accounts": "{}"}
        )
        return Grant(
            secrets=secrets,
            expected_deactivation_date=wire.expected_deactivation(until, self.settings.zone),
        )

    def submit_credentials(
        self,
        *,
        username: str,
        password: str,
        login_hint: str | None = None,
        locale: str | None = None,
    ) -> Grant | Challenge:
        raise Unexpected("this institution authorises at the bank, not with a password here")

    def answer_challenge(
        self, challenge: Challenge, answer: str, *, locale: str | None = None
    ) -> Grant | Challenge:
        raise Unexpected("this institution authorises at the bank, not with a password here")

    # ------------------------------------------------------------------ data

    def list_accounts(self, grant: Grant) -> list[BankAccount]:
        self._count(grant, "*", "accounts")
        shared = wire.parse_accounts(self._get(grant, "/accounts", what="GET /v1/accounts"))
        resource_ids = {s.account.stable_id: s.resource_id for s in shared}
        if json.loads(grant.secrets.get("accounts") or "{}") != resource_ids:
            grant.replace_secrets({**grant.secrets, "accounts": json.dumps(resource_ids)})
        return [s.account for s in shared]

    def _resource_id(self, grant: Grant, stable_id: str) -> str:
        known: dict[str, str] = json.loads(grant.secrets.get("accounts") or "{}")
        if stable_id not in known:
            self.list_accounts(grant)
            known = json.loads(grant.secrets.get("accounts") or "{}")
        if stable_id not in known:
            raise AccountUnavailable("the consent no longer shares this account")
        return known[stable_id]

    def _account_get(
        self,
        grant: Grant,
        stable_id: str,
        endpoint: str,
        params: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        resource_id = self._resource_id(grant, stable_id)
        self._count(grant, stable_id, endpoint)
        suffix = f"/{endpoint}" if endpoint != "account" else ""
        what = f"GET /v1/accounts/{{id}}{suffix}"
        try:
            return self._get(grant, f"/accounts/{resource_id}{suffix}", what=what, params=params)
        except AccountUnavailable:
            # A bank may give an account a new resourceId; the IBAN says which one it is.
            self.list_accounts(grant)
            fresh = self._resource_id(grant, stable_id)
            if fresh == resource_id:
                raise
            return self._get(grant, f"/accounts/{fresh}{suffix}", what=what, params=params)

    def account_numbers(self, grant: Grant, account_stable_id: str) -> list[Tan]:
        # Financial Connections' account numbers are US (ACH) numbers; IBAN accounts
        # have none. The IBAN itself stays inside Relink (it is the account's identity).
        return []

    def refresh_balance(self, grant: Grant, account_stable_id: str) -> Balance:
        body = self._account_get(grant, account_stable_id, "balances")
        kind = "credit" if account_stable_id.startswith("maskedPan:") else "cash"
        return wire.parse_balance(body, kind=kind, now=self._now())

    def refresh_ownership(self, grant: Grant, account_stable_id: str) -> list[Owner]:
        return wire.parse_owners(self._account_get(grant, account_stable_id, "account"))

    def refresh_transactions(
        self, grant: Grant, account_stable_id: str, *, since: dt.datetime | None = None
    ) -> list[Transaction]:
        start = (since or self._now() - dt.timedelta(days=90)).astimezone(dt.UTC).date()
        body = self._account_get(
            grant,
            account_stable_id,
            "transactions",
            {"bookingStatus": "both", "dateFrom": start.isoformat()},
        )
        transactions = wire.parse_transactions(body)
        following = wire.next_page(body)
        pages = 1
        while following and pages < _MAX_TRANSACTION_PAGES:
            # Pages of one answer are one read: the bank counts the first request.
            body = self._get(
                grant, _absolute(self._api, following), what="GET /v1/accounts/{id}/transactions"
            )
            transactions += wire.parse_transactions(body)
            following = wire.next_page(body)
            pages += 1
        return transactions

    def _count(self, grant: Grant, stable_id: str, endpoint: str) -> None:
        """An unattended read counts against `frequencyPerDay` (per account and endpoint
        per UTC day); past it, the bank is not asked and the caller backs off until the
        next UTC day. Reads while the holder is present are not limited (PSD2)."""
        if self._psu is not None:
            return
        now = self._now().astimezone(dt.UTC)
        today = now.date().isoformat()
        usage: dict[str, Any] = json.loads(grant.secrets.get("usage") or "{}")
        counts: dict[str, int] = usage.get(today, {}) if isinstance(usage, dict) else {}
        key = f"{stable_id}|{endpoint}"
        if counts.get(key, 0) >= self.settings.frequency_per_day:
            midnight = dt.datetime.combine(now.date() + dt.timedelta(days=1), dt.time(), dt.UTC)
            raise RateLimited(
                f"{endpoint}: {self.settings.frequency_per_day} unattended reads today",
                retry_after=int((midnight - now).total_seconds()) + 1,
            )
        counts[key] = counts.get(key, 0) + 1
        grant.replace_secrets({**grant.secrets, "usage": json.dumps({today: counts})})

    # ------------------------------------------------------------------ consent

    def consent_expiry(self, grant: Grant) -> dt.datetime | None:
        answer = self._json(
            self._send(
                "GET",
                f"{self._api}/consents/{grant.secrets['consent_id']}",
                what="GET /v1/consents/{id}",
                headers=self._headers(grant.secrets),
            )
        )
        status = wire.consent_status(answer)
        if status != "valid":
            wire.raise_for_consent_status(status)
        until = wire.valid_until(answer)
        expiry = wire.expected_deactivation(until, self.settings.zone)
        if expiry != grant.expected_deactivation_date:
            grant.expected_deactivation_date = expiry
            grant.replace_secrets({**grant.secrets, "valid_until": until.isoformat()})
            grant.rotated = True
        return expiry

    def revoke(self, grant: Grant) -> None:
        """`DELETE /v1/consents/{id}` (the consent becomes terminatedByTpp). A consent the
        bank no longer knows, or that already ended, is not an error."""
        consent_id = grant.secrets.get("consent_id")
        if not consent_id:
            return
        try:
            self._send(
                "DELETE",
                f"{self._api}/consents/{consent_id}",
                what="DELETE /v1/consents/{id}",
                headers=self._headers(grant.secrets),
                ok=(200, 204),
            )
        except (AccessDenied, AccountUnavailable, Unexpected) as gone:
            if isinstance(gone, Unexpected) and not {"STATUS_INVALID", "RESOURCE_UNKNOWN"} & set(
                gone.bank_codes
            ):
                raise
            log.info("nextgenpsd2.consent_already_ended", codes=list(gone.bank_codes))
        except AccessExpired:
            log.info("nextgenpsd2.consent_already_ended", codes=["CONSENT_EXPIRED"])

    def health(self) -> Health:
        """A status read of a consent that does not exist: any 4xx answer means the bank
        is up (no AIS operation is free of a consent, and this one changes nothing)."""
        try:
            response = self._http.get(
                f"{self._api}/consents/relink-health-probe/status",
                headers=self._headers(),
                timeout=self._timeout,
            )
        except httpx.TransportError:
            return Health.inactive
        except Exception:  # a health probe never raises
            return Health.degraded
        if response.status_code == 503 or response.status_code >= 500:
            return Health.inactive
        if response.status_code == 429:
            return Health.degraded
        return Health.active


@dataclass(frozen=True, slots=True)
class _Valid:
    """A consent the bank made valid at once; `carried` names it."""

    carried: Mapping[str, str]


def _bound(redirect_uri: str, state: str, outcome: str) -> str:
    """The callback URL bound to one flow's `state`, saying which way the bank sent back."""
    parts = urlsplit(redirect_uri)
    query = "&".join(q for q in (parts.query, urlencode({"state": state, "outcome": outcome})) if q)
    return urlunsplit(parts._replace(query=query))


def _absolute(api: str, href: str) -> str:
    """A `_links` href: absolute, or relative to the API's host (most banks send
    `/v1/consents/...`)."""
    if href.startswith(("http://", "https://")):
        return href
    parts = urlsplit(api)
    if href.startswith("/"):
        base_path = parts.path.removesuffix("/v1")
        path = href if href.startswith(base_path + "/") or not base_path else base_path + href
        return urlunsplit((parts.scheme, parts.netloc, path, "", ""))
    return f"{api}/{href}"
