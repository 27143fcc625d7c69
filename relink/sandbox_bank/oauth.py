"""The OAuth2 authorization server: authorize pages, token endpoint, revocation.

Authorization code + PKCE (S256 only). A code is bound to its client, redirect_uri and
code challenge, lives ten wall-clock minutes and works once; replaying it revokes the
grant it produced (RFC 6749 §4.1.2). Refresh tokens do not rotate.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode, urlsplit

from sqlalchemy.orm import Session

from relink.sandbox_bank.challenges import (
    ChallengeKind,
    answer_outcome,
    parse_kind,
    password_outcome,
)
from relink.sandbox_bank.clock import wall_clock
from relink.sandbox_bank.data import (
    SandboxAccount,
    accounts_for,
    login_reached,
    normalize_username,
)
from relink.sandbox_bank.errors import BankError
from relink.sandbox_bank.grants import (
    authenticate_client,
    create_grant,
    ensure_available,
    find_token,
    grant_problem,
    issue_access_token,
    known_institution,
    revoke_grant,
)
from relink.sandbox_bank.i18n import N_, supported
from relink.sandbox_bank.institutions import Feature, institution
from relink.sandbox_bank.models import AuthorizationCode, AuthorizeFlow, Client, Grant
from relink.sandbox_bank.store import hash_secret, new_secret

CODE_LIFETIME = timedelta(minutes=10)
FLOW_LIFETIME = timedelta(minutes=30)
DEFAULT_SCOPE = "accounts balances ownership transactions payment_networks"


class PageError(Exception):
    """Shown on the bank's own page: nothing can be sent back to the app. Its message
    is a catalogue message, translated by the page."""


@dataclass(frozen=True, slots=True)
class BackToApp:
    """Send the browser back to the app's redirect_uri with these parameters."""

    url: str


def _back(redirect_uri: str, params: dict[str, str | None]) -> BackToApp:
    query = urlencode({k: v for k, v in params.items() if v is not None})
    separator = "&" if urlsplit(redirect_uri).query else "?"
    return BackToApp(f"{redirect_uri}{separator}{query}")


def redirect_uri_allowed(
    client: Client, redirect_uri: str, host_redirect_uris: Sequence[str] = ()
) -> bool:
    """An exact match of a URI registered for ``client``; the built-in sandbox client
    (``any_redirect_uri``) may return to the URIs of the app the bank was started for."""
    parts = urlsplit(redirect_uri)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.fragment:
        return False
    allowed = host_redirect_uris if client.any_redirect_uri else client.redirect_uris
    return redirect_uri in allowed


def start_authorize(
    session: Session,
    params: dict[str, str],
    now: datetime,
    host_redirect_uris: Sequence[str] = (),
) -> tuple[str, AuthorizeFlow] | BackToApp:
    """Validate an authorize request; on success a new flow and its secret token."""
    client = session.get(Client, params.get("client_id", ""))
    if client is None:
        raise PageError(N_("This app is not registered with the bank."))
    redirect_uri = params.get("redirect_uri", "")
    if not redirect_uri_allowed(client, redirect_uri, host_redirect_uris):
        raise PageError(N_("The app asked to return to an address the bank does not allow."))
    state = params.get("state")

    def refuse(error: str, description: str) -> BackToApp:
        return _back(
            redirect_uri, {"error": error, "error_description": description, "state": state}
        )

    if params.get("response_type") != "code":
        return refuse("unsupported_response_type", "Only response_type=code is supported.")
    challenge = params.get("code_challenge", "")
    if params.get("code_challenge_method") != "S256" or not 43 <= len(challenge) <= 128:
        return refuse("invalid_request", "PKCE with code_challenge_method=S256 is required.")
    inst = institution(params.get("institution", ""))
    if inst is None or inst.auth_kind != "oauth":
        return refuse("invalid_request", "institution must name an OAuth sandbox institution.")
    try:
        ensure_available(session, inst, now)
    except BankError:
        return refuse("temporarily_unavailable", f"{inst.display_name} is unavailable.")
    token = new_secret("sbflow")
    flow = AuthorizeFlow(
        id_hash=hash_secret(token),
        client_id=client.client_id,
        redirect_uri=redirect_uri,
        state=state,
        code_challenge=challenge,
        scope=params.get("scope") or DEFAULT_SCOPE,
        institution=inst.key,
        step="login",
        challenge_kind=None,
        username=None,
        account_ids=[],
        created_at=wall_clock(),
        login_hint=normalize_username(params.get("login_hint", "")) or None,
        locale=asked_locale(params.get("ui_locales")),
    )
    session.add(flow)
    return token, flow


def asked_locale(ui_locales: str | None) -> str | None:
    """The first language of ``ui_locales`` (OpenID Connect: space-separated, most
    wanted first) that the bank speaks; None when it speaks none of them."""
    for tag in (ui_locales or "").split():
        if (found := supported(tag)) is not None:
            return found
    return None


def current_flow(session: Session, token: str) -> AuthorizeFlow:
    """The flow of ``token`` at whatever step it is (its page shows that step)."""
    flow = session.get(AuthorizeFlow, hash_secret(token))
    if flow is None or flow.created_at + FLOW_LIFETIME <= wall_clock():
        raise PageError(N_("This sign-in has expired. Go back to the app and start again."))
    return flow


def load_flow(session: Session, token: str, step: str) -> AuthorizeFlow:
    """The flow of a step's form: only while the flow is at that step."""
    flow = current_flow(session, token)
    if flow.step != step:
        raise PageError(N_("This step of the sign-in is already done."))
    return flow


def cancel(flow: AuthorizeFlow) -> BackToApp:
    flow.step = "done"
    return _back(
        flow.redirect_uri,
        {
            "error": "access_denied",
            "error_description": "The account holder cancelled.",
            "state": flow.state,
        },
    )


class RetryStep(Exception):
    """The holder's input was refused; the same step shows why (``code``, one of
    :data:`RETRY_CODES`)."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


# Why a step was refused: "incorrect" answer or password, the login not filled in, no
# account chosen. The pages word them.
RETRY_CODES = ("incorrect", "missing_login", "no_accounts")


def _advance(flow: AuthorizeFlow, outcome: str) -> BackToApp | None:
    if outcome == "error":
        flow.step = "done"
        return _back(
            flow.redirect_uri,
            {
                "error": "server_error",
                "error_description": "The bank could not complete this sign-in.",
                "state": flow.state,
            },
        )
    if outcome == "incorrect":
        raise RetryStep("incorrect")
    if outcome == "authenticated":
        flow.step = "accounts"
        flow.challenge_kind = None
    else:
        flow.step = "challenge"
        flow.challenge_kind = outcome
    return None


def submit_login(flow: AuthorizeFlow, username: str, password: str) -> BackToApp | None:
    if not normalize_username(username) or not password:
        raise RetryStep("missing_login")
    flow.username = login_reached(username, flow.login_hint)
    return _advance(flow, password_outcome(known_institution(flow.institution), password))


def flow_challenge_kind(flow: AuthorizeFlow) -> ChallengeKind:
    kind = parse_kind(flow.challenge_kind)
    if kind is None:
        raise PageError(N_("This step of the sign-in is already done."))
    return kind


def submit_challenge(flow: AuthorizeFlow, answer: str) -> BackToApp | None:
    inst = known_institution(flow.institution)
    return _advance(flow, answer_outcome(inst, flow_challenge_kind(flow), answer))


def flow_accounts(flow: AuthorizeFlow) -> list[SandboxAccount]:
    return accounts_for(known_institution(flow.institution), flow.username or "")


def preselected(flow: AuthorizeFlow) -> set[str]:
    inst = known_institution(flow.institution)
    if inst.has(Feature.account_picker_changes):
        return set()
    return {a.id for a in flow_accounts(flow)}


def submit_accounts(flow: AuthorizeFlow, account_ids: list[str]) -> None:
    known = [a.id for a in flow_accounts(flow)]
    chosen = [a for a in known if a in set(account_ids)]
    if not chosen or len(set(account_ids)) != len(chosen):
        raise RetryStep("no_accounts")
    flow.account_ids = chosen
    flow.step = "consent"


def submit_consent(session: Session, flow: AuthorizeFlow, allow: bool) -> BackToApp:
    if not allow:
        return cancel(flow)
    code = new_secret("sbcode")
    session.add(
        AuthorizationCode(
            code_hash=hash_secret(code),
            client_id=flow.client_id,
            redirect_uri=flow.redirect_uri,
            code_challenge=flow.code_challenge,
            scope=flow.scope,
            institution=flow.institution,
            username=flow.username or "",
            account_ids=list(flow.account_ids),
            expires_at=wall_clock() + CODE_LIFETIME,
            grant_id=None,
        )
    )
    flow.step = "done"
    return _back(flow.redirect_uri, {"code": code, "state": flow.state})


def _invalid_grant(
    description: str, reason: str | None = None, *, commit: bool = False
) -> BankError:
    return BankError(400, "invalid_grant", description, reason=reason, commit=commit)


def s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def token_endpoint(
    session: Session,
    form: dict[str, str],
    *,
    client_id: str | None,
    client_secret: str | None,
    now: datetime,
) -> dict[str, Any]:
    client = authenticate_client(session, client_id, client_secret)
    grant_type = form.get("grant_type")
    if grant_type == "authorization_code":
        return _exchange_code(session, client, form, now)
    if grant_type == "refresh_token":
        return _refresh(session, client, form.get("refresh_token", ""), now)
    raise BankError(400, "unsupported_grant_type", "Use authorization_code or refresh_token.")


def _exchange_code(
    session: Session, client: Client, form: dict[str, str], now: datetime
) -> dict[str, Any]:
    code = session.get(AuthorizationCode, hash_secret(form.get("code", "")))
    if code is None or code.client_id != client.client_id:
        raise _invalid_grant("The authorization code is unknown.")
    if code.grant_id is not None:
        replayed = session.get(Grant, code.grant_id)
        if replayed is not None:
            revoke_grant(replayed, by="app", now=now)
        raise _invalid_grant("The authorization code was already used.", commit=True)
    if code.expires_at <= wall_clock():
        raise _invalid_grant("The authorization code has expired.")
    if form.get("redirect_uri", "") != code.redirect_uri:
        raise _invalid_grant("redirect_uri does not match the authorization request.")
    verifier = form.get("code_verifier", "")
    if not 43 <= len(verifier) <= 128 or not hmac.compare_digest(
        s256(verifier), code.code_challenge
    ):
        raise _invalid_grant("The PKCE code_verifier does not match.")
    inst = known_institution(code.institution)
    ensure_available(session, inst, now)
    issued = create_grant(
        session,
        inst=inst,
        username=code.username,
        account_ids=list(code.account_ids),
        client=client,
        scope=code.scope,
        now=now,
    )
    code.grant_id = issued.grant.id
    return issued.response(now)


def _refresh(session: Session, client: Client, raw: str, now: datetime) -> dict[str, Any]:
    token = find_token(session, raw)
    grant = session.get(Grant, token.grant_id) if token is not None else None
    if token is None or token.kind != "refresh" or grant is None:
        raise _invalid_grant("The refresh token is unknown.")
    if grant.client_id != client.client_id:
        raise _invalid_grant("The refresh token belongs to another app.")
    ensure_available(session, known_institution(grant.institution), now)
    problem = grant_problem(grant, now)
    if problem is not None:
        raise BankError(400, "invalid_grant", problem.description, reason=problem.reason)
    access, expires_at = issue_access_token(session, grant, now)
    return {
        "access_token": access,
        "token_type": "Bearer",
        "expires_in": int((expires_at - now).total_seconds()),
        "scope": grant.scope,
        "consent_expires_at": int(grant.expires_at.timestamp()) if grant.expires_at else None,
        "accounts": list(grant.account_ids),
    }


def revocation_endpoint(
    session: Session,
    token_value: str,
    *,
    client_id: str | None,
    client_secret: str | None,
    now: datetime,
) -> None:
    """RFC 7009: revoking any token of a grant ends the whole consent; unknown is fine."""
    client = authenticate_client(session, client_id, client_secret)
    token = find_token(session, token_value)
    grant = session.get(Grant, token.grant_id) if token is not None else None
    if grant is not None and grant.client_id in (client.client_id, None):
        revoke_grant(grant, by="app", now=now)
