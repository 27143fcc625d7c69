"""The bank's pages: the OAuth authorize steps and the security center.

Routes decode, call one service function inside the unit of work, and render.
Every step is a POST carrying the flow's secret token and a CSRF token; the next step
is rendered in the response, and the last one redirects (303) back to the app.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from relink.sandbox_bank import oauth
from relink.sandbox_bank.challenges import CHALLENGES
from relink.sandbox_bank.clock import wall_clock
from relink.sandbox_bank.data import normalize_username
from relink.sandbox_bank.forms import FormList, FormStr
from relink.sandbox_bank.institutions import (
    SANDBOX_INSTITUTIONS,
    Feature,
    SandboxInstitution,
    institution,
)
from relink.sandbox_bank.models import AuthorizeFlow, Client
from relink.sandbox_bank.oauth import BackToApp, PageError, RetryStep
from relink.sandbox_bank.pages import Pages
from relink.sandbox_bank.psd2.aspsps import PSD2_ASPSPS, Psd2Aspsp
from relink.sandbox_bank.psd2.aspsps import aspsp as psd2_aspsp
from relink.sandbox_bank.security_center import apps_with_access, revoke_by_holder
from relink.sandbox_bank.store import Store

router = APIRouter()


@dataclass(frozen=True, slots=True)
class BankContext:
    store: Store
    pages: Pages
    public_url: str
    # Where the built-in sandbox client may send a browser back (its host app's callbacks).
    sandbox_redirect_uris: tuple[str, ...] = ()
    # Where holders' browsers reach the pages, when not where the API is (a mutual-TLS
    # API port that a browser without a client certificate cannot enter).
    pages_url: str | None = None


def bank_of(request: Request) -> BankContext:
    bank = request.app.state.sandbox_bank
    assert isinstance(bank, BankContext)
    return bank


def _flow_page(
    bank: BankContext,
    request: Request,
    session: Session,
    flow: AuthorizeFlow,
    token: str,
    *,
    error: str | None = None,
) -> Response:
    """Render whichever step the flow is at."""
    inst = institution(flow.institution)
    client = session.get(Client, flow.client_id)
    context: dict[str, Any] = {
        "institution": inst,
        "flow": token,
        "error": error,
        "client_name": client.name if client else "An app",
    }
    if flow.step == "login":
        name = "authorize_login.html"
        context["username"] = flow.username
        context["reconnecting"] = flow.login_hint is not None
        context["keyword_logins"] = inst is not None and inst.has(Feature.keyword_logins)
    elif flow.step == "challenge":
        name = "authorize_challenge.html"
        context["challenge"] = CHALLENGES[oauth.flow_challenge_kind(flow)]
    elif flow.step == "accounts":
        name = "authorize_accounts.html"
        context["accounts"] = oauth.flow_accounts(flow)
        context["checked"] = oauth.preselected(flow)
    else:
        name = "authorize_consent.html"
        chosen = set(flow.account_ids)
        context["accounts"] = [a for a in oauth.flow_accounts(flow) if a.id in chosen]
        context["scopes"] = flow.scope.split()
    return bank.pages.render(
        request,
        name,
        context,
        status_code=400 if error else 200,
        form_targets=[flow.redirect_uri],
    )


def _back_to_app(target: BackToApp) -> Response:
    response = RedirectResponse(target.url, status_code=303)
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


@router.get("/oauth/authorize", name="sandbox_bank_authorize")
def authorize(request: Request) -> Response:
    bank = bank_of(request)
    params = dict(request.query_params)
    try:
        with bank.store.transaction() as session:
            started = oauth.start_authorize(
                session, params, wall_clock(), bank.sandbox_redirect_uris
            )
            if isinstance(started, BackToApp):
                return _back_to_app(started)
            token, flow = started
            return _flow_page(bank, request, session, flow, token)
    except PageError as error:
        return bank.pages.error_page(request, str(error))


def _step(
    request: Request,
    flow_token: str,
    csrf_token: str,
    step: str,
    action: Callable[[Session, AuthorizeFlow], BackToApp | None],
) -> Response:
    bank = bank_of(request)
    if (failure := bank.pages.csrf_failure(request, csrf_token)) is not None:
        return failure
    try:
        with bank.store.transaction() as session:
            flow = oauth.load_flow(session, flow_token, step)
            try:
                outcome = action(session, flow)
            except RetryStep as retry:
                return _flow_page(bank, request, session, flow, flow_token, error=str(retry))
            if outcome is not None:
                return _back_to_app(outcome)
            return _flow_page(bank, request, session, flow, flow_token)
    except PageError as error:
        return bank.pages.error_page(request, str(error))


@router.post("/oauth/authorize/login", name="sandbox_bank_authorize_login")
def authorize_login(
    request: Request,
    flow: FormStr = "",
    csrf_token: FormStr = "",
    username: FormStr = "",
    password: FormStr = "",
    action: FormStr = "sign_in",
) -> Response:
    def step(session: Session, f: AuthorizeFlow) -> BackToApp | None:
        if action == "cancel":
            return oauth.cancel(f)
        return oauth.submit_login(f, username, password)

    return _step(request, flow, csrf_token, "login", step)


@router.post("/oauth/authorize/challenge", name="sandbox_bank_authorize_challenge")
def authorize_challenge(
    request: Request, flow: FormStr = "", csrf_token: FormStr = "", answer: FormStr = ""
) -> Response:
    return _step(
        request, flow, csrf_token, "challenge", lambda s, f: oauth.submit_challenge(f, answer)
    )


@router.post("/oauth/authorize/accounts", name="sandbox_bank_authorize_accounts")
def authorize_accounts(
    request: Request,
    flow: FormStr = "",
    csrf_token: FormStr = "",
    account: FormList = None,
) -> Response:
    def step(session: Session, f: AuthorizeFlow) -> None:
        oauth.submit_accounts(f, account or [])

    return _step(request, flow, csrf_token, "accounts", step)


@router.post("/oauth/authorize/consent", name="sandbox_bank_authorize_consent")
def authorize_consent(
    request: Request, flow: FormStr = "", csrf_token: FormStr = "", decision: FormStr = ""
) -> Response:
    return _step(
        request,
        flow,
        csrf_token,
        "consent",
        lambda s, f: oauth.submit_consent(s, f, decision == "allow"),
    )


# ---------------------------------------------------------------------- security center


def _security_center_page(
    request: Request, *, notice: str | None = None, error: str | None = None
) -> Response:
    bank = bank_of(request)
    user = bank.pages.security_center_user(request)
    if user is None:
        return bank.pages.render(
            request,
            "security_center_login.html",
            {"institutions": (*SANDBOX_INSTITUTIONS, *PSD2_ASPSPS), "error": error},
            status_code=400 if error else 200,
        )
    inst_key, username = user
    psd2_bank = psd2_aspsp(inst_key)
    if psd2_bank is not None:
        from relink.sandbox_bank.psd2 import web as psd2_web

        context = psd2_web.psd2_security_center_context(request, psd2_bank, username)
        context["notice"] = notice
        context["error"] = error
        return bank.pages.render(request, "psd2_security_center.html", context)
    with bank.store.transaction() as session:
        grants = apps_with_access(session, inst_key, username)
    return bank.pages.render(
        request,
        "security_center.html",
        {
            "institution": institution(inst_key),
            "username": username,
            "grants": grants,
            "notice": notice,
        },
    )


@router.get("/security-center", name="sandbox_bank_security_center")
def security_center(
    request: Request, revoked: str | None = None, psd2: str | None = None
) -> Response:
    from relink.sandbox_bank.psd2.web import SECURITY_CENTER_NOTICES, SECURITY_CENTER_PROBLEMS

    notice = f"{revoked} can no longer access your accounts." if revoked else None
    notice = SECURITY_CENTER_NOTICES.get(psd2 or "", notice)
    return _security_center_page(
        request, notice=notice, error=SECURITY_CENTER_PROBLEMS.get(psd2 or "")
    )


@router.post("/security-center/login", name="sandbox_bank_security_center_login")
def security_center_login(
    request: Request,
    csrf_token: FormStr = "",
    institution_key: Annotated[str, Form(alias="institution")] = "",
    username: FormStr = "",
) -> Response:
    if (failure := bank_of(request).pages.csrf_failure(request, csrf_token)) is not None:
        return failure
    inst: SandboxInstitution | Psd2Aspsp | None = institution(institution_key) or psd2_aspsp(
        institution_key
    )
    user = normalize_username(username)
    if inst is None or not user:
        return _security_center_page(request, error="Choose your bank and enter your username.")
    response = RedirectResponse(request.url_for("sandbox_bank_security_center"), status_code=303)
    bank_of(request).pages.sign_in_security_center(request, response, inst.key, user)
    return response


@router.post("/security-center/logout", name="sandbox_bank_security_center_logout")
def security_center_logout(request: Request, csrf_token: FormStr = "") -> Response:
    if (failure := bank_of(request).pages.csrf_failure(request, csrf_token)) is not None:
        return failure
    response = RedirectResponse(request.url_for("sandbox_bank_security_center"), status_code=303)
    bank_of(request).pages.sign_out_security_center(request, response)
    return response


@router.post(
    "/security-center/grants/{grant_id}/revoke", name="sandbox_bank_security_center_revoke"
)
def security_center_revoke(request: Request, grant_id: str, csrf_token: FormStr = "") -> Response:
    if (failure := bank_of(request).pages.csrf_failure(request, csrf_token)) is not None:
        return failure
    bank = bank_of(request)
    user = bank.pages.security_center_user(request)
    if user is None:
        return _security_center_page(request, error="Sign in again.")
    with bank.store.transaction() as session:
        app_name = revoke_by_holder(session, user[0], user[1], grant_id, wall_clock())
    if app_name is None:
        return bank.pages.error_page(request, "No such app has access to your accounts.", 404)
    target = request.url_for("sandbox_bank_security_center").include_query_params(revoked=app_name)
    return RedirectResponse(target, status_code=303)


@router.get("/", name="sandbox_bank_home")
def home(request: Request) -> Response:
    return bank_of(request).pages.render(
        request, "index.html", {"institutions": SANDBOX_INSTITUTIONS, "psd2_aspsps": PSD2_ASPSPS}
    )
