"""What every dashboard view shares: who is signed in, roles, CSRF, rendering, errors.

Views are thin: a dependency gives them the :class:`Viewer` (signed-in user, role,
scope); they call one query or service and render a template through :func:`page`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from fastapi import Depends, FastAPI
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from relink.dashboard.auth import SignedIn, find_login
from relink.dashboard.wording import words_for
from relink.institutions.incidents import open_incidents
from relink.kit.dates import DEFAULT_TIME_ZONE
from relink.kit.i18n import N_, Message, dashboard_locale, gettext_for, worded
from relink.models import Role
from relink.runtime import Runtime
from relink.tenancy import Scope
from relink.web.csrf import CsrfError, csrf_token, verify_csrf
from relink.web.templating import render

COOKIE = "relink_dashboard"
LOGIN_CSRF_COOKIE = "relink_login_csrf"
CSRF_PURPOSE = "dashboard"
LOGIN_CSRF_PURPOSE = "dashboard-login"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
LANDING = "/accounts"


class NotSignedIn(Exception):
    def __init__(self, next_path: str) -> None:
        self.next_path = next_path


class Forbidden(Exception):
    def __init__(self, message: str = N_("Your role does not allow this action.")) -> None:
        super().__init__(message)
        self.message = message


class NotFound(Exception):
    def __init__(self, what: str = "page") -> None:
        super().__init__(what)
        self.what = what


def runtime_of(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def secure_cookies(runtime: Runtime) -> bool:
    return runtime.settings.public_url.startswith("https://")


def safe_next(path: str | None) -> str:
    """Only same-site paths are followed after sign-in (no open redirect)."""
    if not path or not path.startswith("/") or path.startswith(("//", "/\\")) or "\\" in path:
        return LANDING
    return path


@dataclass(frozen=True)
class Viewer:
    """The signed-in user as a view sees them."""

    signed_in: SignedIn
    runtime: Runtime

    @property
    def user_id(self) -> str:
        return self.signed_in.user.id

    @property
    def email(self) -> str:
        return self.signed_in.user.email

    @property
    def role(self) -> str:
        return self.signed_in.user.role

    @property
    def actor(self) -> str:
        return f"user:{self.signed_in.user.id}"

    @property
    def time_zone(self) -> str:
        return self.signed_in.user.time_zone

    @property
    def locale(self) -> str:
        return dashboard_locale(self.signed_in.user.locale)

    @property
    def platform_id(self) -> str:
        return self.signed_in.platform.id

    @property
    def platform_name(self) -> str:
        return self.signed_in.platform.name

    @property
    def livemode(self) -> bool:
        return self.signed_in.login.livemode

    @property
    def scope(self) -> Scope:
        return self.signed_in.scope

    @property
    def csrf(self) -> str:
        return csrf_token(self.runtime.csrf_key, CSRF_PURPOSE, self.signed_in.login.id)

    @property
    def can_edit(self) -> bool:
        """Request relink, edit holders, settings: owners and admins."""
        return self.role in (Role.owner, Role.admin)

    @property
    def is_owner(self) -> bool:
        """Team and API keys: owners only."""
        return self.role == Role.owner

    @property
    def email_confirmed(self) -> bool:
        return self.signed_in.user.email_confirmed_at is not None

    @property
    def mailbox_enabled(self) -> bool:
        return self.runtime.settings.email_backend == "mailbox"


def current_viewer(request: Request) -> Viewer:
    runtime = runtime_of(request)
    with runtime.database.unit_of_work() as db:
        signed_in = find_login(db, request.cookies.get(COOKIE))
    if signed_in is None:
        path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise NotSignedIn(path)
    return Viewer(signed_in, runtime)


async def form_data(request: Request) -> AsyncIterator[FormData]:
    form = await request.form(max_files=2, max_fields=2000)
    try:
        yield form
    finally:
        # Uploaded files are spooled to temporary files: close them after the view.
        await form.close()


def form_text(form: FormData, name: str, limit: int = 320) -> str:
    """A text field, stripped and cut to ``limit`` ("" when absent or a file)."""
    value = form.get(name)
    return value.strip()[:limit] if isinstance(value, str) else ""


def checked_viewer(
    request: Request,
    viewer: Viewer = Depends(current_viewer),
    form: FormData = Depends(form_data),
) -> Viewer:
    """The viewer of a state-changing request that carries a valid CSRF token."""
    token = form.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER)
    verify_csrf(
        viewer.runtime.csrf_key,
        CSRF_PURPOSE,
        viewer.signed_in.login.id,
        token if isinstance(token, str) else None,
    )
    return viewer


def editor(viewer: Viewer = Depends(checked_viewer)) -> Viewer:
    if not viewer.can_edit:
        raise Forbidden(N_("Viewers have read-only access; ask an owner or admin."))
    return viewer


def owner(viewer: Viewer = Depends(checked_viewer)) -> Viewer:
    if not viewer.is_owner:
        raise Forbidden(N_("Only owners can manage the team and API keys."))
    return viewer


NOTICES = {
    "relink_requested": N_("Relink request created; the email is on its way."),
    "saved": N_("Saved."),
    "policy_saved": N_("Automatic relink settings saved for the mode you are viewing."),
    "suppression_lifted": N_("The address is no longer suppressed: relink emails go to it again."),
    "not_suppressed": N_("The address was not suppressed (any more): nothing changed."),
    "opt_out_cleared": N_("The opt-out is cleared: automatic reminders go to this holder again."),
    "not_opted_out": N_("The holder had not opted out of reminders (any more): nothing changed."),
    "mode_live": N_("You are now viewing live data."),
    "mode_test": N_("You are now viewing test data."),
    "signed_out": N_("You have been signed out."),
    "confirmed": N_("Your email address is confirmed."),
    "key_revoked": N_("The API key was revoked."),
    "webhook_resent": N_("The event was queued for delivery again."),
    "email_resent": N_("The email was queued to be sent again."),
    "user_removed": N_("The team user was removed."),
    "role_changed": N_("The role was changed."),
    "invitation_sent": N_("The invitation is on its way to their email address."),
    "invitation_resent": N_("A new invitation is on its way; the earlier link no longer works."),
    "preferences_saved": N_("Your preferences are saved."),
    "password_changed": N_("Your password was changed. Your other sign-ins have ended."),
    "reset_sent": N_(
        "If a team user has that address, a link to choose a new password is on its "
        "way to it. The link works for one hour."
    ),
    "password_reset": N_("Your password was changed. Sign in with the new one."),
    "webhook_enabled": N_("The webhook endpoint is enabled."),
    "webhook_disabled": N_("The webhook endpoint is disabled; it receives no events."),
    "webhook_deleted": N_("The webhook endpoint was deleted."),
    "request_cancelled": N_("The relink request was cancelled; its link no longer works."),
    "request_finished": N_("The relink request had already ended; nothing was changed."),
    "incident_released": N_(
        "The hold is released: automatic relink emails for this bank go out again."
    ),
    "incident_not_open": N_("That hold had already been released; nothing was changed."),
    "email_not_resent": N_(
        "The email was not sent again: the request has ended, its email is "
        "still on its way, or the holder has no email address."
    ),
}


def locale_of(request: Request, viewer: Viewer | None) -> str:
    """The language of a dashboard page: the user's choice (also on an error page, which
    has no viewer), else the browser's, among English and German."""
    if viewer is not None:
        return viewer.locale
    token = request.cookies.get(COOKIE)
    if token:
        with runtime_of(request).database.read_only() as db:
            signed_in = find_login(db, token)
        if signed_in is not None:
            return dashboard_locale(signed_in.user.locale)
    return dashboard_locale(None, request.headers.get("accept-language"))


def translated(request: Request, viewer: Viewer | None, message: str | Message) -> str:
    """``message`` (marked with ``N_``, ``M_`` or ``Mn_`` where it was written) in the
    page's language."""
    return worded(message, gettext_for(locale_of(request, viewer)))


def translated_errors(
    request: Request, viewer: Viewer | None, errors: Mapping[str, str | Message]
) -> dict[str, str]:
    """A form's errors (each field's message) in the page's language."""
    translations = gettext_for(locale_of(request, viewer))
    return {name: worded(message, translations) for name, message in errors.items()}


def page(
    request: Request,
    viewer: Viewer | None,
    template: str,
    context: dict[str, Any],
    *,
    status_code: int = 200,
) -> HTMLResponse:
    locale = locale_of(request, viewer)
    translations = gettext_for(locale)
    _ = translations.gettext
    notice_text = NOTICES.get(request.query_params.get("notice", ""))
    notice = _(notice_text) if notice_text else None
    incidents = []
    if viewer is not None:
        with viewer.runtime.database.read_only() as db:
            incidents = open_incidents(db, viewer.scope)
    html = render(
        f"dashboard/{template}",
        {
            "viewer": viewer,
            "notice": notice,
            "incidents": incidents,
            "words": words_for(locale),
            # A message built in Python (marked with N_, M_ or Mn_), in the page's language.
            "say": lambda message: worded(message, translations),
            # The |when and |day filters read it: times in the user's own zone.
            "time_zone": viewer.time_zone if viewer is not None else DEFAULT_TIME_ZONE,
            "path": request.url.path,
            "current_url": request.url.path
            + (f"?{request.url.query}" if request.url.query else ""),
            **context,
        },
        locale=locale,
    )
    response = HTMLResponse(html, status_code=status_code)
    response.headers["cache-control"] = "no-store"
    return response


def redirect(path: str, *, notice: str | None = None) -> RedirectResponse:
    """A 303 to ``path``; a ``notice`` goes in its query, before any ``#fragment`` (a
    notice inside the fragment never reaches the server, so it was never shown)."""
    if notice is not None:
        path, hash_mark, fragment = path.partition("#")
        path += ("&" if "?" in path else "?") + f"notice={notice}" + hash_mark + fragment
    return RedirectResponse(path, status_code=303)


def install_error_pages(app: FastAPI) -> None:
    async def not_signed_in(request: Request, error: Exception) -> Response:
        assert isinstance(error, NotSignedIn)
        target = "/login"
        if error.next_path not in ("/", LANDING):
            target += "?next=" + quote(error.next_path, safe="")
        return RedirectResponse(target, status_code=303)

    async def forbidden(request: Request, error: Exception) -> Response:
        message = error.message if isinstance(error, Forbidden) else str(error)
        return page(
            request,
            None,
            "error.html",
            # The messages are marked with N_ where they are raised.
            {
                "title": translated(request, None, N_("Not allowed")),
                "message": translated(request, None, message),
            },
            status_code=403,
        )

    async def not_found(request: Request, error: Exception) -> Response:
        return page(
            request,
            None,
            "error.html",
            {
                "title": translated(request, None, N_("Not found")),
                "message": translated(
                    request,
                    None,
                    N_(
                        "There is nothing here in the mode you are viewing. "
                        "Check the id, or switch between test and live mode."
                    ),
                ),
            },
            status_code=404,
        )

    app.add_exception_handler(NotSignedIn, not_signed_in)
    app.add_exception_handler(Forbidden, forbidden)
    app.add_exception_handler(CsrfError, forbidden)
    app.add_exception_handler(NotFound, not_found)
