"""The bank's pages: the OAuth authorize steps and the security center.

Routes decode, call one service function inside the unit of work, and render.
Every page is a GET that can be reloaded; every form is a POST that answers with a
redirect (303): the authorize steps to their flow's page (``/oauth/authorize/flow/…``,
which shows the step the flow is at, and ``?error=`` why a form was refused), the last
one back to the app; the security center's forms to the security center.
Each step's form carries the flow's secret token and a CSRF token.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from relink.sandbox_bank import oauth
from relink.sandbox_bank.challenges import challenge_in
from relink.sandbox_bank.clock import wall_clock
from relink.sandbox_bank.data import normalize_username
from relink.sandbox_bank.forms import FormList, FormStr
from relink.sandbox_bank.i18n import N_, gettext
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


FLOW_PAGE = "sandbox_bank_authorize_flow"
# What a step's page says when its form was refused (``?error=``).
FORM_ERRORS = {
    "incorrect": N_("That is not correct. Try again."),
    "missing_login": N_("Enter your username and password."),
    "no_accounts": N_("Choose at least one of your accounts."),
    "form_expired": N_("The form expired. Please try again."),
}


def _see_other(url: str) -> Response:
    response = RedirectResponse(url, status_code=303)
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def _to_flow(request: Request, token: str, error: str | None = None) -> Response:
    """A step's form answers with its flow's page (and why the form was refused)."""
    target = request.url_for(FLOW_PAGE, token=token)
    if error is not None:
        target = target.include_query_params(error=error)
    return _see_other(str(target))


def _flow_page(
    bank: BankContext,
    request: Request,
    session: Session,
    flow: AuthorizeFlow,
    token: str,
    *,
    error: str | None = None,
) -> Response:
    """Render whichever step the flow is at, in the language the app asked for."""
    inst = institution(flow.institution)
    client = session.get(Client, flow.client_id)
    locale = bank.pages.locale_of(request, flow.locale)
    message = FORM_ERRORS.get(error or "")
    context: dict[str, Any] = {
        "institution": inst,
        "flow": token,
        "error": gettext(locale, message) if message else None,
        "client_name": client.name if client else gettext(locale, N_("An app")),
    }
    if flow.step == "login":
        name = "authorize_login.html"
        context["username"] = flow.username
        context["reconnecting"] = flow.login_hint is not None
        context["keyword_logins"] = inst is not None and inst.has(Feature.keyword_logins)
    elif flow.step == "challenge":
        name = "authorize_challenge.html"
        context["challenge"] = challenge_in(oauth.flow_challenge_kind(flow), locale)
    elif flow.step == "accounts":
        name = "authorize_accounts.html"
        context["accounts"] = oauth.flow_accounts(flow)
        context["checked"] = oauth.preselected(flow)
    elif flow.step == "consent":
        name = "authorize_consent.html"
        chosen = set(flow.account_ids)
        context["accounts"] = [a for a in oauth.flow_accounts(flow) if a.id in chosen]
        context["scopes"] = flow.scope.split()
    else:
        # Done: Back from the app after signing in. Nothing is left to do here.
        return bank.pages.render(request, "authorize_done.html", context, locale=locale)
    status = 200 if message is None else 403 if error == "form_expired" else 400
    return bank.pages.render(
        request,
        name,
        context,
        status_code=status,
        form_targets=[flow.redirect_uri],
        locale=locale,
    )


def _back_to_app(target: BackToApp) -> Response:
    return _see_other(target.url)


@router.get("/oauth/authorize", name="sandbox_bank_authorize")
def authorize(request: Request) -> Response:
    """The app's authorize request starts a flow, then answers with the flow's page (a
    reload there shows the same step; it never starts a second flow)."""
    bank = bank_of(request)
    params = dict(request.query_params)
    try:
        with bank.store.transaction() as session:
            started = oauth.start_authorize(
                session, params, wall_clock(), bank.sandbox_redirect_uris
            )
            if isinstance(started, BackToApp):
                return _back_to_app(started)
            token, _ = started
    except PageError as error:
        locale = bank.pages.locale_of(request, params.get("ui_locales"))
        return bank.pages.error_page(request, str(error), locale=locale)
    return _to_flow(request, token)


@router.get("/oauth/authorize/flow/{token}", name=FLOW_PAGE)
def authorize_flow(request: Request, token: str, error: str | None = None) -> Response:
    bank = bank_of(request)
    try:
        with bank.store.transaction() as session:
            flow = oauth.current_flow(session, token)
            return _flow_page(bank, request, session, flow, token, error=error)
    except PageError as gone:
        return bank.pages.error_page(request, str(gone), 404)


def _step(
    request: Request,
    flow_token: str,
    csrf_token: str,
    step: str,
    action: Callable[[Session, AuthorizeFlow], BackToApp | None],
) -> Response:
    bank = bank_of(request)
    if not flow_token:
        return bank.pages.error_page(request, N_("This sign-in has expired."))
    if not bank.pages.csrf_valid(request, csrf_token):
        return _to_flow(request, flow_token, "form_expired")
    try:
        with bank.store.transaction() as session:
            flow = oauth.load_flow(session, flow_token, step)
            try:
                outcome = action(session, flow)
            except RetryStep as retry:
                return _to_flow(request, flow_token, retry.code)
    except PageError:
        # Expired, or the form of a step already done (sent again after Back): the
        # flow's page says which, or shows the step the flow is at.
        return _to_flow(request, flow_token)
    if outcome is not None:
        return _back_to_app(outcome)
    return _to_flow(request, flow_token)


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

# What the security center says when a form could not be done (``?problem=``).
SECURITY_CENTER_PROBLEMS = {
    "sign_in": N_("Choose your bank and enter your username."),
    "signed_out": N_("Sign in again."),
    "form_expired": N_("The form expired. Please try again."),
    "unknown_grant": N_("No such app has access to your accounts."),
    "unknown_consent": N_("No such consent gives access to your accounts."),
    "undecided": N_(
        "That request could not be decided: choose at least one account, or it "
        "is no longer waiting."
    ),
}


def to_security_center(request: Request, **params: str) -> Response:
    """Where every security-center form answers (303), with what it says."""
    target = request.url_for("sandbox_bank_security_center").include_query_params(**params)
    return _see_other(str(target))


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
            "error": error,
        },
    )


@router.get("/security-center", name="sandbox_bank_security_center")
def security_center(
    request: Request,
    revoked: str | None = None,
    psd2: str | None = None,
    problem: str | None = None,
) -> Response:
    from relink.sandbox_bank.psd2.web import SECURITY_CENTER_NOTICES

    locale = bank_of(request).pages.locale_of(request)
    notice = None
    if revoked:
        notice = gettext(locale, N_("%(app)s can no longer access your accounts.")) % {
            "app": revoked
        }
    if psd2 in SECURITY_CENTER_NOTICES:
        notice = gettext(locale, SECURITY_CENTER_NOTICES[psd2])
    error = SECURITY_CENTER_PROBLEMS.get(problem or "")
    return _security_center_page(
        request, notice=notice, error=gettext(locale, error) if error else None
    )


@router.post("/security-center/login", name="sandbox_bank_security_center_login")
def security_center_login(
    request: Request,
    csrf_token: FormStr = "",
    institution_key: Annotated[str, Form(alias="institution")] = "",
    username: FormStr = "",
) -> Response:
    if not bank_of(request).pages.csrf_valid(request, csrf_token):
        return to_security_center(request, problem="form_expired")
    inst: SandboxInstitution | Psd2Aspsp | None = institution(institution_key) or psd2_aspsp(
        institution_key
    )
    user = normalize_username(username)
    if inst is None or not user:
        return to_security_center(request, problem="sign_in")
    response = to_security_center(request)
    bank_of(request).pages.sign_in_security_center(request, response, inst.key, user)
    return response


@router.post("/security-center/logout", name="sandbox_bank_security_center_logout")
def security_center_logout(request: Request, csrf_token: FormStr = "") -> Response:
    if not bank_of(request).pages.csrf_valid(request, csrf_token):
        return to_security_center(request, problem="form_expired")
    response = to_security_center(request)
    bank_of(request).pages.sign_out_security_center(request, response)
    return response


@router.post(
    "/security-center/grants/{grant_id}/revoke", name="sandbox_bank_security_center_revoke"
)
def security_center_revoke(request: Request, grant_id: str, csrf_token: FormStr = "") -> Response:
    bank = bank_of(request)
    if not bank.pages.csrf_valid(request, csrf_token):
        return to_security_center(request, problem="form_expired")
    user = bank.pages.security_center_user(request)
    if user is None:
        return to_security_center(request, problem="signed_out")
    with bank.store.transaction() as session:
        app_name = revoke_by_holder(session, user[0], user[1], grant_id, wall_clock())
    if app_name is None:
        return to_security_center(request, problem="unknown_grant")
    return to_security_center(request, revoked=app_name)


@router.get("/", name="sandbox_bank_home")
def home(request: Request) -> Response:
    """The bank's front page, in the browser's language (or ``?ui_locales=``, as an app
    asks on the authorize request)."""
    pages = bank_of(request).pages
    return pages.render(
        request,
        "index.html",
        {"institutions": SANDBOX_INSTITUTIONS, "psd2_aspsps": PSD2_ASPSPS},
        locale=pages.locale_of(request, request.query_params.get("ui_locales")),
    )
