"""Rendering the bank's pages: templates, CSRF (signed double-submit), CSP, cookies.

Cookies are scoped to the bank's mount path (`root_path`), so mounted under
`/sandbox-bank` they never collide with the host app's.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jinja2
from itsdangerous import BadSignature, Signer, URLSafeTimedSerializer
from starlette.requests import Request
from starlette.responses import Response
from starlette.templating import Jinja2Templates

from relink.sandbox_bank import i18n

CSRF_COOKIE = "sandbox_bank_csrf"
SECURITY_CENTER_COOKIE = "sandbox_bank_security_center"
SECURITY_CENTER_MAX_AGE = 3600

TEMPLATES_DIR = Path(__file__).parent / "templates"


class CsrfRejected(Exception):
    pass


def make_templates() -> Jinja2Templates:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    i18n.install(env)
    return Jinja2Templates(env=env)


def cookie_path(request: Request) -> str:
    return str(request.scope.get("root_path", "")).rstrip("/") + "/"


def origin_of(url: str) -> str | None:
    parts = urlsplit(url)
    if parts.scheme in ("http", "https") and parts.netloc:
        return f"{parts.scheme}://{parts.netloc}"
    return None


def content_security_policy(form_targets: Iterable[str] = ()) -> str:
    # form-action must name where a submitted form may end up: Chromium enforces it
    # on the redirect back to the app too.
    targets = " ".join(sorted({o for o in (origin_of(u) for u in form_targets) if o}))
    return (
        "default-src 'none'; style-src 'self'; img-src 'self'; "
        f"form-action 'self'{' ' + targets if targets else ''}; "
        "frame-ancestors 'none'; base-uri 'none'"
    )


class Pages:
    def __init__(self, secret: str) -> None:
        self.templates = make_templates()
        self._csrf = Signer(secret, salt="sandbox-bank-csrf")
        self._sessions = URLSafeTimedSerializer(secret, salt="sandbox-bank-security-center")

    # ------------------------------------------------------------------ CSRF

    def csrf_valid(self, request: Request, token: str) -> bool:
        """Whether ``token`` is this browser's CSRF token (a refused form changes nothing
        and its page says the form expired)."""
        try:
            self.check_csrf(request, token)
        except CsrfRejected:
            return False
        return True

    def check_csrf(self, request: Request, token: str) -> None:
        nonce = request.cookies.get(CSRF_COOKIE, "")
        try:
            signed_nonce = self._csrf.unsign(token).decode()
        except BadSignature:
            raise CsrfRejected from None
        if not nonce or not hmac.compare_digest(signed_nonce, nonce):
            raise CsrfRejected

    # ------------------------------------------------------------------ security center

    def security_center_user(self, request: Request) -> tuple[str, str] | None:
        raw = request.cookies.get(SECURITY_CENTER_COOKIE)
        if raw is None:
            return None
        try:
            data = self._sessions.loads(raw, max_age=SECURITY_CENTER_MAX_AGE)
        except BadSignature:
            return None
        if not (isinstance(data, list) and len(data) == 2):
            return None
        return str(data[0]), str(data[1])

    def sign_in_security_center(
        self, request: Request, response: Response, institution: str, username: str
    ) -> None:
        response.set_cookie(
            SECURITY_CENTER_COOKIE,
            self._sessions.dumps([institution, username]),
            max_age=SECURITY_CENTER_MAX_AGE,
            path=cookie_path(request),
            httponly=True,
            samesite="lax",
            secure=request.url.scheme == "https",
        )

    def sign_out_security_center(self, request: Request, response: Response) -> None:
        response.delete_cookie(SECURITY_CENTER_COOKIE, path=cookie_path(request))

    # ------------------------------------------------------------------ rendering

    def render(
        self,
        request: Request,
        name: str,
        context: dict[str, Any],
        *,
        status_code: int = 200,
        form_targets: Iterable[str] = (),
        locale: str | None = None,
    ) -> Response:
        """The page ``name`` in ``locale`` (by default the browser's language)."""
        locale = locale or self.locale_of(request)
        nonce = request.cookies.get(CSRF_COOKIE)
        fresh = not nonce
        if not nonce:
            nonce = secrets.token_urlsafe(32)
        context = {"institution": None, "error": None, **context, "locale": locale}
        context["csrf_token"] = self._csrf.sign(nonce).decode()
        response = self.templates.TemplateResponse(request, name, context, status_code=status_code)
        if fresh:
            response.set_cookie(
                CSRF_COOKIE,
                nonce,
                path=cookie_path(request),
                httponly=True,
                samesite="lax",
                secure=request.url.scheme == "https",
            )
        response.headers["Content-Security-Policy"] = content_security_policy(form_targets)
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["Content-Language"] = locale
        response.headers["Cache-Control"] = "no-store"
        # An authorize step's address holds its flow's token: never send it on.
        response.headers["Referrer-Policy"] = "no-referrer"
        return response

    @staticmethod
    def locale_of(request: Request, asked: str | None = None) -> str:
        """The language of a page: ``asked`` (``ui_locales``), else the browser's."""
        return i18n.choose(asked, accept_language=request.headers.get("accept-language"))

    def error_page(
        self,
        request: Request,
        message: str,
        status_code: int = 400,
        *,
        locale: str | None = None,
    ) -> Response:
        """The error page saying ``message`` (a catalogue message, translated here)."""
        locale = locale or self.locale_of(request)
        return self.render(
            request,
            "error.html",
            {"message": i18n.gettext(locale, message)},
            status_code=status_code,
            locale=locale,
        )
