"""JSON endpoints: token, revocation, credential logins, the bank API, test-helper control.

Errors leave as `BankError` and are rendered by one handler in `app.py`.
"""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import unquote

from fastapi import APIRouter, Body, Header, Request
from fastapi.responses import JSONResponse, Response

from relink.sandbox_bank import bank_api, grants, i18n, logins, oauth
from relink.sandbox_bank.clock import request_now
from relink.sandbox_bank.data import accounts_for, normalize_username
from relink.sandbox_bank.errors import BankError
from relink.sandbox_bank.forms import FormStr, TokenRequest
from relink.sandbox_bank.institutions import SANDBOX_INSTITUTIONS
from relink.sandbox_bank.models import Client
from relink.sandbox_bank.store import hash_secret, new_secret
from relink.sandbox_bank.web import bank_of

router = APIRouter()

AuthHeader = Annotated[str | None, Header(alias="Authorization")]


def _no_store(body: dict[str, Any]) -> JSONResponse:
    return JSONResponse(body, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})


def _client_credentials(
    authorization: str | None, client_id: str, client_secret: str
) -> tuple[str | None, str | None]:
    """client_secret_basic (RFC 6749 §2.3.1) or client_secret_post."""
    if authorization and authorization.lower().startswith("basic "):
        try:
            decoded = base64.b64decode(authorization[6:].strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            raise BankError(401, "invalid_client", "Malformed Basic credentials.") from None
        user, _, password = decoded.partition(":")
        return unquote(user), unquote(password)
    return client_id or None, client_secret or None


# ---------------------------------------------------------------------------- OAuth


@router.post("/oauth/token", name="sandbox_bank_token")
def token(
    request: Request,
    form: TokenRequest,
    authorization: AuthHeader = None,
    client_id: FormStr = "",
    client_secret: FormStr = "",
) -> JSONResponse:
    cid, secret = _client_credentials(authorization, client_id, client_secret)
    now = request_now(request)
    with bank_of(request).store.transaction() as session:
        body = oauth.token_endpoint(session, form, client_id=cid, client_secret=secret, now=now)
    return _no_store(body)


@router.post("/oauth/revoke", name="sandbox_bank_revoke")
def revoke(
    request: Request,
    authorization: AuthHeader = None,
    token: FormStr = "",
    client_id: FormStr = "",
    client_secret: FormStr = "",
) -> Response:
    cid, secret = _client_credentials(authorization, client_id, client_secret)
    now = request_now(request)
    with bank_of(request).store.transaction() as session:
        oauth.revocation_endpoint(session, token, client_id=cid, client_secret=secret, now=now)
    return Response(status_code=200)


@router.get("/.well-known/oauth-authorization-server", name="sandbox_bank_metadata")
def metadata(request: Request) -> JSONResponse:
    return JSONResponse(
        {
            "issuer": bank_of(request).public_url,
            "authorization_endpoint": str(request.url_for("sandbox_bank_authorize")),
            "token_endpoint": str(request.url_for("sandbox_bank_token")),
            "revocation_endpoint": str(request.url_for("sandbox_bank_revoke")),
            "response_types_supported": ["code"],
            "grant_types_supported": ["authorization_code", "refresh_token"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": [
                "client_secret_basic",
                "client_secret_post",
            ],
            "scopes_supported": oauth.DEFAULT_SCOPE.split(),
        }
    )


# ---------------------------------------------------------------------------- logins


def login_locale(request: Request, payload: dict[str, Any]) -> str:
    """The language a login's challenges are asked in: the body's ``locale`` (the app
    passes its user's), else the request's ``Accept-Language``, else English."""
    return i18n.choose(
        str(payload.get("locale") or ""), accept_language=request.headers.get("accept-language")
    )


@router.post("/api/v1/logins", name="sandbox_bank_login")
def start_login(
    request: Request,
    payload: Annotated[dict[str, Any], Body()],
) -> JSONResponse:
    now = request_now(request)
    with bank_of(request).store.transaction() as session:
        body = logins.start_login(
            session,
            institution_key=str(payload.get("institution", "")),
            username=str(payload.get("username", "")),
            password=str(payload.get("password", "")),
            now=now,
            login_hint=str(payload.get("login_hint") or "") or None,
            locale=login_locale(request, payload),
        )
    return _no_store(body)


@router.post("/api/v1/logins/{login_id}/answer", name="sandbox_bank_login_answer")
def answer_login(
    request: Request, login_id: str, payload: Annotated[dict[str, Any], Body()]
) -> JSONResponse:
    now = request_now(request)
    with bank_of(request).store.transaction() as session:
        body = logins.answer_challenge(
            session,
            login_id=login_id,
            answer=str(payload.get("answer", "")),
            now=now,
            locale=login_locale(request, payload),
        )
    return _no_store(body)


# ---------------------------------------------------------------------------- bank API


@router.get("/api/v1/institutions", name="sandbox_bank_institutions")
def list_institutions(request: Request) -> JSONResponse:
    now = request_now(request)
    with bank_of(request).store.transaction() as session:
        outages = {
            inst.key: grants.played_outage(session, inst.key) for inst in SANDBOX_INSTITUTIONS
        }
    return JSONResponse(
        {
            "object": "list",
            "data": [
                {
                    "key": inst.key,
                    "display_name": inst.display_name,
                    "auth_kind": inst.auth_kind,
                    **grants.institution_status(inst, now, outages[inst.key]),
                }
                for inst in SANDBOX_INSTITUTIONS
            ],
        }
    )


@router.get("/api/v1/institutions/{key}", name="sandbox_bank_institution")
def institution_status(request: Request, key: str) -> JSONResponse:
    inst = grants.known_institution(key)
    with bank_of(request).store.transaction() as session:
        outage = grants.played_outage(session, inst.key)
    return JSONResponse(
        {
            "key": inst.key,
            "display_name": inst.display_name,
            "auth_kind": inst.auth_kind,
            **grants.institution_status(inst, request_now(request), outage),
        }
    )


@router.post("/sandbox/institutions/{key}/outage", name="sandbox_bank_play_outage")
def play_outage(
    request: Request,
    key: str,
    payload: Annotated[dict[str, Any], Body()],
    authorization: AuthHeader = None,
) -> Response:
    """Put an institution down (``inactive``), ``degraded`` or back up (``active``): its
    status answers so, and while it is not active its sign-ins and API calls fail as a
    bank in trouble does. For registered clients (Relink's test helpers)."""
    cid, secret = _client_credentials(authorization, "", "")
    with bank_of(request).store.transaction() as session:
        grants.authenticate_client(session, cid, secret)
        inst = grants.known_institution(key)
        grants.play_outage(session, inst.key, str(payload.get("status", "")))
    return Response(status_code=204)


@router.get("/api/v1/consent", name="sandbox_bank_consent")
def consent(request: Request, authorization: AuthHeader = None) -> JSONResponse:
    now = request_now(request)
    with bank_of(request).store.transaction() as session:
        grant = grants.authenticate(session, authorization, now)
        return JSONResponse(bank_api.consent(grant))


@router.get("/api/v1/accounts", name="sandbox_bank_accounts")
def accounts(request: Request, authorization: AuthHeader = None) -> JSONResponse:
    now = request_now(request)
    with bank_of(request).store.transaction() as session:
        grant = grants.authenticate(session, authorization, now)
        return JSONResponse(bank_api.list_accounts(grant))


@router.get("/api/v1/accounts/{account_id}", name="sandbox_bank_account")
def account(request: Request, account_id: str, authorization: AuthHeader = None) -> JSONResponse:
    now = request_now(request)
    with bank_of(request).store.transaction() as session:
        grant = grants.authenticate(session, authorization, now)
        return JSONResponse(bank_api.account_json(bank_api.shared_account(grant, account_id)))


@router.get("/api/v1/accounts/{account_id}/balances", name="sandbox_bank_balances")
def balances(request: Request, account_id: str, authorization: AuthHeader = None) -> JSONResponse:
    now = request_now(request)
    with bank_of(request).store.transaction() as session:
        grant = grants.authenticate(session, authorization, now)
        return JSONResponse(bank_api.balances(grant, account_id, now))


@router.get("/api/v1/accounts/{account_id}/owners", name="sandbox_bank_owners")
def owners(request: Request, account_id: str, authorization: AuthHeader = None) -> JSONResponse:
    now = request_now(request)
    with bank_of(request).store.transaction() as session:
        grant = grants.authenticate(session, authorization, now)
        return JSONResponse(bank_api.owners(grant, account_id))


@router.get("/api/v1/accounts/{account_id}/transactions", name="sandbox_bank_transactions")
def transactions(
    request: Request,
    account_id: str,
    authorization: AuthHeader = None,
    since: int | None = None,
) -> JSONResponse:
    now = request_now(request)
    since_at = datetime.fromtimestamp(since, UTC) if since is not None else None
    with bank_of(request).store.transaction() as session:
        grant = grants.authenticate(session, authorization, now)
        return JSONResponse(bank_api.transactions(grant, account_id, now, since_at))


@router.get("/api/v1/accounts/{account_id}/payment_networks", name="sandbox_bank_payment_networks")
def payment_networks(
    request: Request, account_id: str, authorization: AuthHeader = None
) -> JSONResponse:
    now = request_now(request)
    with bank_of(request).store.transaction() as session:
        grant = grants.authenticate(session, authorization, now)
        return JSONResponse(bank_api.payment_networks(session, grant, account_id, now))


# ------------------------------------------------------- sandbox control (test helpers)


@router.post("/sandbox/grants", name="sandbox_bank_create_grant")
def create_grant(
    request: Request,
    payload: Annotated[dict[str, Any], Body()],
    authorization: AuthHeader = None,
) -> JSONResponse:
    """A consent as if the holder had just authenticated (Relink's test-helper accounts)."""
    cid, secret = _client_credentials(authorization, "", "")
    now = request_now(request)
    with bank_of(request).store.transaction() as session:
        client = grants.authenticate_client(session, cid, secret)
        inst = grants.known_institution(str(payload.get("institution", "")))
        username = normalize_username(str(payload.get("username", "")))
        if not username:
            raise BankError(400, "invalid_request", "username is required.")
        held = [a.id for a in accounts_for(inst, username)]
        wanted = payload.get("accounts")
        chosen = held if wanted is None else [a for a in held if a in set(map(str, wanted))]
        if not chosen:
            raise BankError(400, "invalid_request", "accounts must name accounts the user holds.")
        reauth = payload.get("reauthentication")
        issued = grants.create_grant(
            session,
            inst=inst,
            username=username,
            account_ids=chosen,
            client=client if inst.auth_kind == "oauth" else None,
            scope=oauth.DEFAULT_SCOPE,
            now=now,
            reauthentication=bool(reauth) if reauth is not None else None,
        )
        return _no_store(issued.response(now))


@router.post("/sandbox/grant/deactivate", name="sandbox_bank_deactivate_grant")
def deactivate_grant(
    request: Request,
    payload: Annotated[dict[str, Any], Body()],
    authorization: AuthHeader = None,
) -> Response:
    now = request_now(request)
    account_id = payload.get("account")
    with bank_of(request).store.transaction() as session:
        grant = grants.grant_for_any_token(session, authorization)
        bank_api.deactivate(
            grant, str(payload.get("cause", "")), str(account_id) if account_id else None, now
        )
    return Response(status_code=204)


@router.post("/sandbox/grant/payment_networks", name="sandbox_bank_update_tan")
def update_tan(
    request: Request,
    payload: Annotated[dict[str, Any], Body()],
    authorization: AuthHeader = None,
) -> Response:
    expiry = payload.get("expected_expiry_date")
    status = payload.get("status")
    with bank_of(request).store.transaction() as session:
        grant = grants.grant_for_any_token(session, authorization)
        bank_api.update_tan(
            session,
            grant,
            str(payload.get("account", "")),
            status=str(status) if status is not None else None,
            expected_expiry_date=datetime.fromtimestamp(int(expiry), UTC)
            if expiry is not None
            else None,
        )
    return Response(status_code=204)


@router.post("/sandbox/clients", name="sandbox_bank_register_client")
def register_client(
    request: Request,
    payload: Annotated[dict[str, Any], Body()],
    authorization: AuthHeader = None,
) -> JSONResponse:
    """Register an app with exact redirect URIs (authenticated as the sandbox client)."""
    cid, secret = _client_credentials(authorization, "", "")
    uris = payload.get("redirect_uris")
    if not isinstance(uris, list) or not uris or not all(isinstance(u, str) for u in uris):
        raise BankError(400, "invalid_redirect_uri", "redirect_uris must be a list of URLs.")
    with bank_of(request).store.transaction() as session:
        grants.authenticate_client(session, cid, secret)
        client_id, client_secret = new_secret("sbclient")[:40], new_secret("sbsecret")
        client = Client(
            client_id=client_id,
            secret_hash=hash_secret(client_secret),
            name=str(payload.get("name") or "Registered app")[:200],
            redirect_uris=list(uris),
            any_redirect_uri=False,
            created_at=request_now(request),
        )
        if not all(oauth.redirect_uri_allowed(client, u) for u in uris):
            raise BankError(400, "invalid_redirect_uri", "redirect_uris must be http(s) URLs.")
        session.add(client)
    return _no_store({"client_id": client_id, "client_secret": client_secret})


@router.get("/healthz", name="sandbox_bank_health")
def healthz() -> JSONResponse:
    return JSONResponse({"ok": True})
