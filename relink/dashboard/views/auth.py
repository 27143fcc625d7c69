"""Sign in, sign out, the Test/Live switch, email confirmation, and the user's own
password: change (signed in) and reset (by email)."""

from __future__ import annotations

from collections.abc import Mapping

from fastapi import APIRouter, Depends
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from relink.dashboard import auth, preferences
from relink.dashboard.web import (
    COOKIE,
    CSRF_FIELD,
    LANDING,
    LOGIN_CSRF_COOKIE,
    LOGIN_CSRF_PURPOSE,
    Viewer,
    checked_viewer,
    current_viewer,
    form_data,
    form_text,
    page,
    redirect,
    runtime_of,
    safe_next,
    secure_cookies,
    translated,
    translated_errors,
)
from relink.kit.crypto import random_token, token_digest
from relink.kit.dates import time_zone_names
from relink.kit.i18n import DASHBOARD_LOCALES, LANGUAGE_NAMES, N_, Message
from relink.kit.passwords import MAX_LENGTH, MIN_LENGTH
from relink.kit.ratelimit import SlidingWindowThrottle
from relink.web.csrf import CsrfError, csrf_token, verify_csrf

router = APIRouter()

CONFIRM_PURPOSE = "dashboard-confirm-email"
RESET_PURPOSE = "dashboard-reset-password"
FORGOT_CSRF_COOKIE = "relink_forgot_csrf"
FORGOT_CSRF_PURPOSE = "dashboard-forgot-password"
# Reset requests one client address may make (each process counts on its own; the
# emails themselves are limited per user in the database).
FORGOT_THROTTLE_KEY = "dashboard_forgot_throttle"


def _page_with_csrf_cookie(
    request: Request,
    template: str,
    context: dict[str, object],
    *,
    cookie: str,
    path: str,
    purpose: str,
    status_code: int,
) -> Response:
    """A signed-out visitor's form page: with no login to bind its CSRF token to, the
    token is bound to a random value in a cookie of the form's own ``path``."""
    runtime = runtime_of(request)
    binding = request.cookies.get(cookie) or random_token(16)
    context = {"csrf": csrf_token(runtime.csrf_key, purpose, binding), **context}
    response = page(request, None, template, context, status_code=status_code)
    response.set_cookie(
        cookie,
        binding,
        httponly=True,
        samesite="lax",
        secure=secure_cookies(runtime),
        path=path,
    )
    return response


def _link_page(
    request: Request,
    template: str,
    context: dict[str, object],
    *,
    token: str,
    purpose: str,
    status_code: int,
) -> Response:
    """The password form of an emailed link: its CSRF token is bound to the link."""
    csrf = csrf_token(runtime_of(request).csrf_key, purpose, token_digest(token))
    context = {"csrf": csrf, "min_length": MIN_LENGTH, "max_length": MAX_LENGTH, **context}
    return page(request, None, template, context, status_code=status_code)


def _link_expired(request: Request, invalid: Exception) -> Response:
    return page(
        request,
        None,
        "error.html",
        {
            "title": translated(request, None, N_("Link expired")),
            "message": translated(request, None, str(invalid)),
        },
        status_code=404,
    )


def _csrf_refusal(request: Request, form: FormData, purpose: str, binding: str) -> str | None:
    """Why a signed-out visitor's form fails its CSRF check; None when it passes."""
    submitted = form.get(CSRF_FIELD)
    try:
        verify_csrf(
            runtime_of(request).csrf_key,
            purpose,
            binding,
            submitted if isinstance(submitted, str) else None,
        )
    except CsrfError as error:
        return translated(request, None, str(error))
    return None


@router.get("/")
def home() -> Response:
    return redirect(LANDING)


def _login_page(
    request: Request, *, email: str = "", error: str | None = None, status_code: int = 200
) -> Response:
    return _page_with_csrf_cookie(
        request,
        "login.html",
        {"email": email, "error": error, "next": safe_next(request.query_params.get("next"))},
        cookie=LOGIN_CSRF_COOKIE,
        path="/login",
        purpose=LOGIN_CSRF_PURPOSE,
        status_code=status_code,
    )


@router.get("/login")
def login_form(request: Request) -> Response:
    return _login_page(request)


@router.post("/login")
def login_submit(request: Request, form: FormData = Depends(form_data)) -> Response:
    runtime = runtime_of(request)
    email = form_text(form, "email")
    password = form.get("password")
    binding = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if (refused := _csrf_refusal(request, form, LOGIN_CSRF_PURPOSE, binding)) is not None:
        return _login_page(request, email=email, error=refused, status_code=403)
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
        wait = translated(request, None, throttled.message)
        return _login_page(request, email=email, error=wait, status_code=429)
    except auth.SignInRefused as wrong:
        return _login_page(
            request, email=email, error=translated(request, None, wrong.message), status_code=400
        )
    response = redirect(safe_next(form_text(form, "next", 2000)))
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
        safe_next(form_text(form, "next", 2000)), notice="mode_live" if livemode else "mode_test"
    )


def _confirm_page(
    request: Request, token: str, *, error: str | None = None, status_code: int = 200
) -> Response:
    runtime = runtime_of(request)
    try:
        with runtime.database.read_only() as db:
            confirmation, user = auth.pending_confirmation(db, token)
    except auth.ConfirmationInvalid as invalid:
        return _link_expired(request, invalid)
    return _link_page(
        request,
        "confirm_email.html",
        {"email": user.email, "invitation": confirmation.invitation, "error": error},
        token=token,
        purpose=CONFIRM_PURPOSE,
        status_code=status_code,
    )


@router.get("/confirm-email/{token}")
def confirm_email_form(request: Request, token: str) -> Response:
    # Showing the page changes nothing, so link scanners cannot confirm by visiting.
    return _confirm_page(request, token)


@router.post("/confirm-email/{token}")
def confirm_email(request: Request, token: str, form: FormData = Depends(form_data)) -> Response:
    runtime = runtime_of(request)
    if (refused := _csrf_refusal(request, form, CONFIRM_PURPOSE, token_digest(token))) is not None:
        return _confirm_page(request, token, error=refused, status_code=403)
    password = form.get("password")
    try:
        with runtime.database.unit_of_work() as db:
            confirmation, _ = auth.pending_confirmation(db, token)
            auth.confirm_email(
                db,
                token,
                password if confirmation.invitation and isinstance(password, str) else None,
            )
    except auth.PasswordRejected as invalid:
        error = translated(request, None, invalid.message)
        return _confirm_page(request, token, error=error, status_code=400)
    except auth.ConfirmationInvalid:
        return _confirm_page(request, token)
    return redirect("/login", notice="confirmed")


# -- the signed-in user's own account ----------------------------------------------------


def _account_page(
    request: Request,
    viewer: Viewer,
    *,
    error: Mapping[str, str | Message] | None = None,
    preference_errors: dict[str, str] | None = None,
    chosen: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    return page(
        request,
        viewer,
        "your_account.html",
        {
            "errors": translated_errors(request, viewer, error or {}),
            "min_length": MIN_LENGTH,
            "max_length": MAX_LENGTH,
            "preference_errors": preference_errors or {},
            # What the form shows: the refused values as typed, else the saved ones.
            "chosen": chosen or {"time_zone": viewer.time_zone, "locale": viewer.locale},
            "time_zones": time_zone_names(),
            "languages": {code: LANGUAGE_NAMES[code] for code in DASHBOARD_LOCALES},
        },
        status_code=status_code,
    )


@router.get("/account")
def account(request: Request, viewer: Viewer = Depends(current_viewer)) -> Response:
    return _account_page(request, viewer)


@router.post("/account/password")
def change_password(
    request: Request, viewer: Viewer = Depends(checked_viewer), form: FormData = Depends(form_data)
) -> Response:
    current, new = _password(form, "current_password"), _password(form, "new_password")
    try:
        auth.check_new_password(new, email=viewer.email)
    except auth.PasswordRejected as rejected:
        return _account_page(
            request, viewer, error={"new_password": rejected.message}, status_code=400
        )
    runtime = viewer.runtime
    client = request.client.host if request.client else "unknown"
    with runtime.database.unit_of_work() as db:
        attempt = auth.count_attempt(db, viewer.email, client)
    try:
        with runtime.database.unit_of_work() as db:
            auth.change_password(db, attempt, viewer.signed_in, current, new)
    except auth.SignInThrottled as throttled:
        with runtime.database.unit_of_work() as db:
            auth.forget_attempt(db, attempt)
        return _account_page(
            request, viewer, error={"current_password": throttled.message}, status_code=429
        )
    except auth.SignInRefused:
        wrong = N_("This is not your current password.")
        return _account_page(request, viewer, error={"current_password": wrong}, status_code=400)
    return redirect("/account", notice="password_changed")


@router.post("/account/preferences")
def change_preferences(
    request: Request, viewer: Viewer = Depends(checked_viewer), form: FormData = Depends(form_data)
) -> Response:
    chosen = {
        "time_zone": form_text(form, "time_zone", 64),
        "locale": form_text(form, "locale", 10),
    }
    try:
        with viewer.runtime.database.unit_of_work() as db:
            preferences.save_preferences(db, viewer.user_id, **chosen)
    except preferences.PreferencesRejected as rejected:
        errors = {
            field: translated(request, viewer, text) for field, text in rejected.errors.items()
        }
        return _account_page(
            request, viewer, preference_errors=errors, chosen=chosen, status_code=400
        )
    return redirect("/account", notice="preferences_saved")


def _password(form: FormData, name: str) -> str:
    """A password field as typed (not stripped: spaces are part of a password)."""
    value = form.get(name)
    return value[: MAX_LENGTH + 1] if isinstance(value, str) else ""


# -- forgotten password --------------------------------------------------------------------


def _forgot_page(
    request: Request, *, email: str = "", error: str | None = None, status_code: int = 200
) -> Response:
    return _page_with_csrf_cookie(
        request,
        "forgot_password.html",
        {"email": email, "error": error},
        cookie=FORGOT_CSRF_COOKIE,
        path="/forgot-password",
        purpose=FORGOT_CSRF_PURPOSE,
        status_code=status_code,
    )


def _forgot_throttle(request: Request) -> SlidingWindowThrottle:
    extras = runtime_of(request).extras
    throttle = extras.get(FORGOT_THROTTLE_KEY)
    if not isinstance(throttle, SlidingWindowThrottle):
        throttle = extras[FORGOT_THROTTLE_KEY] = SlidingWindowThrottle(limit=10, window=900.0)
    return throttle


@router.get("/forgot-password")
def forgot_password_form(request: Request) -> Response:
    return _forgot_page(request)


@router.post("/forgot-password")
def forgot_password(request: Request, form: FormData = Depends(form_data)) -> Response:
    runtime = runtime_of(request)
    email = form_text(form, "email")
    binding = request.cookies.get(FORGOT_CSRF_COOKIE, "")
    if (refused := _csrf_refusal(request, form, FORGOT_CSRF_PURPOSE, binding)) is not None:
        return _forgot_page(request, email=email, error=refused, status_code=403)
    client = request.client.host if request.client else "unknown"
    if not _forgot_throttle(request).hit(client):
        message = translated(
            request,
            None,
            N_("Too many requests from this network. Please wait 15 minutes and try again."),
        )
        return _forgot_page(request, email=email, error=message, status_code=429)
    with runtime.database.unit_of_work() as db:
        auth.request_password_reset(db, runtime, email)
    # The same answer whether or not the address belongs to someone.
    response = redirect("/login", notice="reset_sent")
    response.delete_cookie(FORGOT_CSRF_COOKIE, path="/forgot-password")
    return response


def _reset_page(
    request: Request, token: str, *, error: str | None = None, status_code: int = 200
) -> Response:
    runtime = runtime_of(request)
    try:
        with runtime.database.read_only() as db:
            _, user = auth.pending_reset(db, token)
    except auth.ResetInvalid as invalid:
        return _link_expired(request, invalid)
    return _link_page(
        request,
        "reset_password.html",
        {"email": user.email, "error": error},
        token=token,
        purpose=RESET_PURPOSE,
        status_code=status_code,
    )


@router.get("/reset-password/{token}")
def reset_password_form(request: Request, token: str) -> Response:
    # Showing the page changes nothing, so link scanners cannot use the link up.
    return _reset_page(request, token)


@router.post("/reset-password/{token}")
def reset_password(request: Request, token: str, form: FormData = Depends(form_data)) -> Response:
    runtime = runtime_of(request)
    if (refused := _csrf_refusal(request, form, RESET_PURPOSE, token_digest(token))) is not None:
        return _reset_page(request, token, error=refused, status_code=403)
    try:
        with runtime.database.unit_of_work() as db:
            auth.reset_password(db, token, _password(form, "password"))
    except auth.PasswordRejected as rejected:
        error = translated(request, None, rejected.message)
        return _reset_page(request, token, error=error, status_code=400)
    except auth.ResetInvalid:
        return _reset_page(request, token)
    response = redirect("/login", notice="password_reset")
    response.delete_cookie(COOKIE, path="/")
    return response
