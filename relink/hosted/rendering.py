"""Rendering a hosted screen: locale, template, security headers, the language cookie."""

from __future__ import annotations

from typing import Protocol

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from relink.hosted.flow import BrowserCookie
from relink.hosted.screens import Screen
from relink.kit.i18n import LANGUAGE_NAMES, SUPPORTED_LOCALES, negotiate, supported
from relink.runtime import Runtime
from relink.web.security import csp_with_form_targets
from relink.web.templating import render


class Addressed(Protocol):
    """A hosted page's address: a session's link or a bundle's page."""

    @property
    def token(self) -> str: ...

    @property
    def path(self) -> str: ...


LANG_COOKIE = "relink_lang"
LANG_COOKIE_MAX_AGE = 60 * 60 * 24 * 30


def _no_store(response: Response) -> Response:
    # The URL holds the link's token: never cache the page, never send it as a referrer.
    response.headers["cache-control"] = "no-store"
    response.headers["referrer-policy"] = "no-referrer"
    return response


def secure_cookies(runtime: Runtime) -> bool:
    """Cookies are Secure when Relink is served over https (its public URL)."""
    return runtime.settings.public_url.startswith("https://")


def set_cookies(response: Response, cookies: list[BrowserCookie], *, secure: bool) -> None:
    """The flow's cookies: HttpOnly, and SameSite=Lax so that they come back with the
    bank's redirect (a top-level navigation from another site)."""
    for cookie in cookies:
        if cookie.value is None:
            response.delete_cookie(
                cookie.name, path=cookie.path, secure=secure, httponly=True, samesite="lax"
            )
        else:
            response.set_cookie(
                cookie.name,
                cookie.value,
                max_age=cookie.max_age,
                path=cookie.path,
                secure=secure,
                httponly=True,
                samesite="lax",
            )


def redirect(url: str) -> Response:
    return _no_store(RedirectResponse(url, status_code=303))


def render_screen(request: Request, screen: Screen, *, address: Addressed | None) -> Response:
    chosen = supported(request.query_params.get("lang"))
    locale = negotiate(
        explicit=chosen or request.cookies.get(LANG_COOKIE),
        preferred=screen.preferred_locales,
        accept_language=request.headers.get("accept-language"),
        default=screen.default_locale,
    )
    link_path = screen.path
    html = render(
        f"hosted/{screen.page}.html",
        {
            "screen": screen,
            "link_path": link_path,
            # The switcher reloads the current page's link (or this path) in a language.
            "switch_path": screen.switch_path or link_path or request.url.path,
            "languages": [(code, LANGUAGE_NAMES[code]) for code in SUPPORTED_LOCALES],
        },
        locale=locale,
    )
    response = HTMLResponse(html, status_code=screen.status_code)
    response.headers["content-security-policy"] = csp_with_form_targets(*screen.form_targets)
    response.headers["x-frame-options"] = "DENY"
    response.headers["content-language"] = locale
    # Only for a link that exists (its screen has the link's path), scoped to it.
    if chosen and address is not None and link_path == address.path:
        response.set_cookie(
            LANG_COOKIE,
            chosen,
            max_age=LANG_COOKIE_MAX_AGE,
            path=address.path,
            httponly=True,
            samesite="lax",
            secure=request.url.scheme == "https",
        )
    return _no_store(response)
