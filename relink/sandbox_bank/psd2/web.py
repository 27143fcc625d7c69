"""The PSD2 ASPSPs' pages and browser-facing OAuth2 endpoints.

Pages work without JavaScript and redirect after every POST (303): to the next step,
or back to the TPP. The security center's PSD2 part (revoke, approve/deny decoupled
requests) lives here too; `relink.sandbox_bank.web` renders it for PSD2 banks.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from babel.dates import format_date
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from relink.sandbox_bank.challenges import ONE_TIME_CODE
from relink.sandbox_bank.errors import BankError
from relink.sandbox_bank.forms import FormList, FormStr, TokenRequest
from relink.sandbox_bank.i18n import N_, gettext
from relink.sandbox_bank.psd2 import consents as service
from relink.sandbox_bank.psd2 import oauth, sca
from relink.sandbox_bank.psd2.aspsps import PSD2_ASPSPS, Approach, Psd2Aspsp, aspsp
from relink.sandbox_bank.psd2.clock import bank_clock, psd2_now, set_bank_clock
from relink.sandbox_bank.psd2.data import accounts_for
from relink.sandbox_bank.web import bank_of, to_security_center

router = APIRouter()


def _redirect(url: str) -> Response:
    response = RedirectResponse(url, status_code=303)
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def _gone(request: Request) -> Response:
    return bank_of(request).pages.error_page(
        request, N_("This confirmation has expired or is finished. Go back to the provider."), 404
    )


@router.get("/psd2/sca/{token}", name="sandbox_bank_psd2_sca")
def sca_page(request: Request, token: str, notice: str | None = None) -> Response:
    bank = bank_of(request)
    # The browser's language: a TPP's redirect carries none the bank could read.
    locale = bank.pages.locale_of(request)
    with bank.store.transaction() as session:
        try:
            flow = sca.load(session, token)
        except sca.FlowGone:
            return _gone(request)
        error = sca.NOTICES.get(notice or "")
        method = sca.SCA_METHODS.get(flow.row.sca_method or "")
        context: dict[str, Any] = {
            "institution": flow.aspsp,
            "token": token,
            "step": flow.row.step,
            "error": gettext(locale, error) if error else None,
            "methods": {key: gettext(locale, label) for key, label in sca.SCA_METHODS.items()},
            "method_label": gettext(locale, method) if method else "",
            "one_time_code": ONE_TIME_CODE,
            "bank_offered": flow.consent is None or flow.consent.bank_offered,
            "valid_until": format_date(
                date.fromisoformat(flow.consent.valid_until), format="long", locale=locale
            )
            if flow.consent
            else None,
            "accounts": sca.offered_accounts(flow) if flow.row.step == "accounts" else [],
        }
        targets = [flow.return_uri]
        if flow.consent is not None and flow.consent.nok_redirect_uri:
            targets.append(flow.consent.nok_redirect_uri)
        return bank.pages.render(
            request,
            "psd2_sca.html",
            context,
            status_code=400 if context["error"] else 200,
            form_targets=targets,
            locale=locale,
        )


@router.post("/psd2/sca/{token}", name="sandbox_bank_psd2_sca_step")
def sca_step(
    request: Request,
    token: str,
    csrf_token: FormStr = "",
    action: FormStr = "",
    username: FormStr = "",
    password: FormStr = "",
    method: FormStr = "",
    code: FormStr = "",
    account: FormList = None,
) -> Response:
    page = request.url_for("sandbox_bank_psd2_sca", token=token)
    bank = bank_of(request)
    if not bank.pages.csrf_valid(request, csrf_token):
        return _redirect(str(page.include_query_params(notice="form_expired")))
    with bank.store.transaction() as session:
        try:
            flow = sca.load(session, token)
        except sca.FlowGone:
            return _redirect(str(page))  # which says the confirmation is gone
        now = bank_clock(session)
        step = flow.row.step
        if action == "cancel":
            outcome = sca.cancel(flow, now)
        elif step == "login" and action == "sign_in":
            outcome = sca.sign_in(flow, username, password)
        elif step == "method" and action == "choose":
            outcome = sca.choose_method(flow, method)
        elif step == "code" and action == "code":
            outcome = sca.enter_code(flow, code, now)
        elif step == "accounts" and action == "accounts":
            outcome = sca.choose_accounts(session, flow, account or [], now)
        else:
            outcome = sca.Outcome()  # a stale form: show the current step
    if outcome.back_to_tpp is not None:
        return _redirect(outcome.back_to_tpp)
    if outcome.notice is not None:
        page = page.include_query_params(notice=outcome.notice)
    return _redirect(str(page))


# ---------------------------------------------------------------------- OAuth2 pre-step


def _oauth_routes(bank_aspsp: Psd2Aspsp) -> None:
    authorize_path = f"/{bank_aspsp.oauth_authorize_path}"
    token_path = f"/{bank_aspsp.oauth_token_path}"

    @router.get(authorize_path, name=f"sandbox_bank_{bank_aspsp.key}_authorize")
    def authorize(request: Request) -> Response:
        bank = bank_of(request)
        params = request.query_params
        redirect_uri = params.get("redirect_uri", "")
        if not sca.valid_redirect_uri(redirect_uri):
            return bank.pages.error_page(request, N_("The provider gave no valid redirect_uri."))
        state = params.get("state")

        def refuse(error: str, description: str) -> Response:
            return _redirect(
                sca.with_query(
                    redirect_uri,
                    {"error": error, "error_description": description, "state": state},
                )
            )

        if params.get("response_type") != "code":
            return refuse("unsupported_response_type", "Only response_type=code is supported.")
        if not params.get("client_id"):
            return refuse("invalid_request", "client_id is required.")
        challenge = params.get("code_challenge", "")
        if params.get("code_challenge_method") != "S256" or not 43 <= len(challenge) <= 128:
            return refuse("invalid_request", "PKCE with code_challenge_method=S256 is required.")
        with bank.store.transaction() as session:
            token = sca.start_pre_step(
                session,
                bank_aspsp,
                client_id=params["client_id"],
                redirect_uri=redirect_uri,
                state=state,
                code_challenge=challenge,
                scope=params.get("scope") or "AIS",
            )
        return _redirect(str(request.url_for("sandbox_bank_psd2_sca", token=token)))

    @router.post(token_path, name=f"sandbox_bank_{bank_aspsp.key}_token")
    def token(request: Request, form: TokenRequest, client_id: FormStr = "") -> Response:
        form = {**form, "client_id": client_id}  # a public client: it names itself only
        bank = bank_of(request)
        with bank.store.transaction() as session:
            # The TPP's clock (Relink-Sandbox-Time) as on its XS2A calls, so the tokens
            # it is issued are valid by the time it then uses them.
            body = oauth.token_endpoint(session, bank_aspsp, form, psd2_now(request, session))
        return JSONResponse(body, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})

    @router.get(f"/{bank_aspsp.path}/.well-known/oauth-authorization-server")
    def metadata(request: Request) -> Response:
        root = str(request.base_url).rstrip("/")
        return JSONResponse(
            {
                "issuer": f"{root}/{bank_aspsp.path}",
                "authorization_endpoint": f"{root}{authorize_path}",
                "token_endpoint": f"{root}{token_path}",
                "response_types_supported": ["code"],
                "grant_types_supported": ["authorization_code", "refresh_token"],
                "code_challenge_methods_supported": ["S256"],
                "token_endpoint_auth_methods_supported": ["none", "tls_client_auth"],
                "scopes_supported": ["AIS"],
            }
        )


for _aspsp in PSD2_ASPSPS:
    if _aspsp.approach is Approach.oauth:
        _oauth_routes(_aspsp)


# ---------------------------------------------------------------------- the bank's clock


@router.put("/psd2/sandbox/clock", name="sandbox_bank_psd2_clock")
async def put_clock(request: Request) -> Response:
    """`{"now": <unix seconds>}` sets the PSD2 ASPSPs' "now"; `{"now": null}` returns
    them to real time. A test helper: a real ASPSP has no such thing."""
    try:
        body = await request.json()
    except ValueError:
        body = None
    moment = body.get("now") if isinstance(body, dict) else "missing"
    if moment is not None and (isinstance(moment, bool) or not isinstance(moment, int)):
        raise BankError(400, "invalid_request", "now must be unix seconds or null.")
    bank = bank_of(request)
    with bank.store.transaction() as session:
        set_bank_clock(session, moment)
        now = bank_clock(session)
    return JSONResponse({"now": int(now.timestamp()), "fixed": moment is not None})


# ---------------------------------------------------------------------- security center


def psd2_security_center_context(
    request: Request, bank_aspsp: Psd2Aspsp, username: str
) -> dict[str, Any]:
    bank = bank_of(request)
    with bank.store.transaction() as session:
        now = bank_clock(session)
        consents = service.holder_consents(session, bank_aspsp, username, now)
        approvals = [
            {
                "authorisation_id": authorisation.id,
                "valid_until": consent.valid_until,
                "accounts": [
                    a
                    for a in accounts_for(bank_aspsp, username)
                    if a.iban in set(service.offered_ibans(bank_aspsp, consent, username))
                ],
            }
            for consent, authorisation in service.awaiting_approval(session, bank_aspsp, username)
        ]
    return {
        "institution": bank_aspsp,
        "username": username,
        "consents": consents,
        "approvals": approvals,
    }


def _form_holder(request: Request, csrf_token: str) -> tuple[Psd2Aspsp, str] | Response:
    """Who posts a PSD2 security-center form (their ASPSP and username), or the answer
    instead: the CSRF refusal, or back to the security center to sign in."""
    pages = bank_of(request).pages
    if not pages.csrf_valid(request, csrf_token):
        return to_security_center(request, problem="form_expired")
    user = pages.security_center_user(request)
    bank_aspsp = aspsp(user[0]) if user is not None else None
    if user is None or bank_aspsp is None:
        return to_security_center(request, problem="signed_out")
    return bank_aspsp, user[1]


@router.post("/security-center/psd2/consents/{consent_id}/revoke", name="sandbox_bank_psd2_revoke")
def revoke(request: Request, consent_id: str, csrf_token: FormStr = "") -> Response:
    if isinstance(holder := _form_holder(request, csrf_token), Response):
        return holder
    bank = bank_of(request)
    with bank.store.transaction() as session:
        found = service.revoke_by_psu(session, *holder, consent_id, bank_clock(session))
    if not found:
        return to_security_center(request, problem="unknown_consent")
    return to_security_center(request, psd2="revoked")


@router.post(
    "/security-center/psd2/authorisations/{authorisation_id}/decide",
    name="sandbox_bank_psd2_decide",
)
def decide(
    request: Request,
    authorisation_id: str,
    csrf_token: FormStr = "",
    decision: FormStr = "",
    account: FormList = None,
) -> Response:
    if isinstance(holder := _form_holder(request, csrf_token), Response):
        return holder
    bank = bank_of(request)
    with bank.store.transaction() as session:
        problem = service.decide_decoupled(
            session,
            *holder,
            authorisation_id,
            approve=decision == "approve",
            chosen=account or [],
            now=bank_clock(session),
        )
    if problem is not None:
        return to_security_center(request, problem="undecided")
    return to_security_center(request, psd2="approved" if decision == "approve" else "denied")


SECURITY_CENTER_NOTICES = {
    "revoked": N_("The provider can no longer access your accounts."),
    "approved": N_("You approved the request."),
    "denied": N_("You denied the request."),
}
