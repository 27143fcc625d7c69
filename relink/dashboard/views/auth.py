"""Sign in, sign out, the Test/Live switch and email confirmation."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from relink.dashboard import auth
from relink.dashboard.web import (
    COOKIE,
    CSRF_FIELD,
    LANDING,
    LOGIN_CSRF_COOKIE,
    LOGIN_CSRF_PURPOSE,
    Viewer,
    checked_viewer,
    form_data,
    page,
    redirect,
    runtime_of,
    safe_next,
    secure_cookies,
)
from relink.kit.crypto import random_token, token_digest
from relink.web.csrf import CsrfError, csrf_token, verify_csrf

router = APIRouter()

CONFIRM_PURPOSE = "dashboard-confirm-email"


def _text(form: FormData, name: str, limit: int = 320) -> str:
    value = form.get(name)
    return value.strip()[:limit] if isinstance(value, str) else ""


@router.get("/")
def home() -> Response:
    return redirect(LANDING)


def _login_page(
    request: Request, *, email: str = "", error: str | None = None, status_code: int = 200
) -> Response:
    runtime = runtime_of(request)
    binding = request.cookies.get(LOGIN_CSRF_COOKIE) or random_token(16)
    response = page(
        request,
        None,
        "login.html",
        {
            "csrf": csrf_token(runtime.csrf_key, LOGIN_CSRF_PURPOSE, binding),
            "email": email,
            "error": error,
            "next": safe_next(request.query_params.get("next")),
        },
        status_code=status_code,
    )
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        binding,
        httponly=True,
        samesite="lax",
        secure=secure_cookies(runtime),
        path="/login",
    )
    return response


@router.get("/login")
def login_form(request: Request) -> Response:
    return _login_page(request)


@router.post("/login")
def login_submit(request: Request, form: FormData = Depends(form_data)) -> Response:
    runtime = runtime_of(request)
    email = _text(form, "email")
    password = form.get("password")
    try:
        verify_csrf(
            runtime.csrf_key,
            LOGIN_CSRF_PURPOSE,
            request.cookies.get(LOGIN_CSRF_COOKIE, ""),
            form.get(CSRF_FIELD) if isinstance(form.get(CSRF_FIELD), str) else None,  # type: ignore[arg-type]
        )
    except CsrfError as error:
        return _login_page(request, email=email, error=str(error), status_code=403)
    client = request.client.host if request.client else "unknown"
    with runtime.database.unit_of_work() as db:
        attempt = auth.count_attempt(db, email, client)
    try:
        with runtime.database.unit_of_work() as db:
            user = auth.check_credentials(
                db, attempt, email, password if isinstance(password, str) else ""
            )
            started = auth.start_login(db, user)
    except auth.SignInThrottled as throttled:
        with runtime.database.unit_of_work() as db:
            auth.forget_attempt(db, attempt)
        return _login_page(request, email=email, error=str(throttled), status_code=429)
    except auth.SignInRefused as refused:
        return _login_page(request, email=email, error=str(refused), status_code=400)
    response = redirect(safe_next(_text(form, "next", 2000)))
    response.set_cookie(
        COOKIE,
        started.token,
        max_age=int(auth.LIFETIME.total_seconds()),
        httponly=True,
        samesite="lax",
        secure=secure_cookies(runtime),
        path="/",
    )
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
    return response


@router.post("/logout")
def logout(viewer: Viewer = Depends(checked_viewer)) -> Response:
    with viewer.runtime.database.unit_of_work() as db:
        auth.end_login(db, viewer.signed_in.login.id)
    response = redirect("/login", notice="signed_out")
    response.delete_cookie(COOKIE, path="/")
    return response


@router.post("/mode")
def switch_mode(
    viewer: Viewer = Depends(checked_viewer), form: FormData = Depends(form_data)
) -> Response:
    livemode = form.get("livemode") == "1"
    with viewer.runtime.database.unit_of_work() as db:
        auth.switch_mode(db, viewer.signed_in, livemode)
    return redirect(
        safe_next(_text(form, "next", 2000)), notice="mode_live" if livemode else "mode_test"
    )


def _confirm_page(
    request: Request, token: str, *, error: str | None = None, status_code: int = 200
) -> Response:
    runtime = runtime_of(request)
    try:
        with runtime.database.read_only() as db:
            confirmation, user = auth.pending_confirmation(db, token)
    except auth.ConfirmationInvalid as invalid:
        return page(
            request,
            None,
            "error.html",
            {"title": "Link expired", "message": str(invalid)},
            status_code=404,
        )
    return page(
        request,
        None,
        "confirm_email.html",
        {
            "csrf": csrf_token(runtime.csrf_key, CONFIRM_PURPOSE, token_digest(token)),
            "email": user.email,
            "invitation": confirmation.invitation,
            "error": error,
            "min_length": auth.MIN_PASSWORD_LENGTH,
        },
        status_code=status_code,
    )


@router.get("/confirm-email/{token}")
def confirm_email_form(request: Request, token: str) -> Response:
    # Showing the page changes nothing, so link scanners cannot confirm by visiting.
    return _confirm_page(request, token)


@router.post("/confirm-email/{token}")
def confirm_email(request: Request, token: str, form: FormData = Depends(form_data)) -> Response:
    runtime = runtime_of(request)
    submitted = form.get(CSRF_FIELD)
    try:
        verify_csrf(
            runtime.csrf_key,
            CONFIRM_PURPOSE,
            token_digest(token),
            submitted if isinstance(submitted, str) else None,
        )
    except CsrfError as error:
        return _confirm_page(request, token, error=str(error), status_code=403)
    password = form.get("password")
    try:
        with runtime.database.unit_of_work() as db:
            confirmation, _ = auth.pending_confirmation(db, token)
            auth.confirm_email(
                db,
                token,
                password if confirmation.invitation and isinstance(password, str) else None,
            )
    except ValueError as invalid:
        return _confirm_page(request, token, error=str(invalid), status_code=400)
    except auth.ConfirmationInvalid:
        return _confirm_page(request, token)
    return redirect("/login", notice="confirmed")
