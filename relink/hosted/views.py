"""Routes of the hosted pages: decode → one service call → render.

The same routes serve every kind of link (``/relink/{token}``, ``/connect/{token}``,
``/link/{client_secret}``; see :class:`LinkKind`). Every page is server-rendered and
works without JavaScript. A ``GET`` of a link only marks it viewed (or scanned, for a
machine); every change is a ``POST`` with the CSRF token bound to the link, and the two
that a machine pressing buttons could do harm with (giving up, "Email me a new link")
take a second screen. Every ``POST`` answers with a redirect (303) to a page that
reloads with a ``GET`` (what the form's outcome adds to that page travels as a signed
note, :mod:`relink.hosted.notes`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar
from urllib.parse import urlencode

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from relink.authorizations.consent_links import PATH as CONSENT_PATH
from relink.connectors.base import PsuContext
from relink.email.opt_outs import PATH as REMINDERS_PATH
from relink.hosted.branding import (
    brand_css,
    brand_css_of,
    logo_of,
    platform_logo,
    png_logo,
    stylesheet,
)
from relink.hosted.bundles import BundleAddress, bundle_platform, bundle_screen
from relink.hosted.consent import HolderConsentService
from relink.hosted.flow import CALLBACK_PATH, Attempt, BrowserLanguage, HostedFlowService, Reply
from relink.hosted.links import LinkAddress, LinkKind, throttle_for
from relink.hosted.notes import PARAM as NOTE_PARAM
from relink.hosted.reminders import one_click, reminders_brand, reminders_screen, stop_from_page
from relink.hosted.rendering import (
    LANG_COOKIE,
    Addressed,
    redirect,
    render_screen,
    secure_cookies,
    set_cookies,
)
from relink.hosted.screens import bare
from relink.hosted.traffic import Visit
from relink.kit.i18n import supported
from relink.kit.provenance import EventContext
from relink.models import FlowStep
from relink.runtime import Runtime
from relink.sessions.bundles import BUNDLE_PATH

router = APIRouter(include_in_schema=False)
_T = TypeVar("_T")


def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def _context(request: Request) -> EventContext:
    return EventContext(request_id=getattr(request.state, "request_id", None))


def _throttled(request: Request, address: Addressed | None) -> Response | None:
    ip = request.client.host if request.client else None
    token = address.token if address is not None else None
    if throttle_for(_runtime(request)).allow(token=token, ip=ip):
        return None
    if request.method == "POST" and address is not None:
        # Not even a refused form answers with a page: its link's page says "throttled"
        # (while the limit lasts, as it does for the next few seconds at least).
        response = redirect(_runtime(request).settings.public_url.rstrip("/") + address.path)
    else:
        response = render_screen(request, bare("throttled", 429), address=address)
    response.headers["retry-after"] = "60"
    return response


def _holder(request: Request) -> PsuContext | None:
    """The holder's request as the bank may see it (the client address is the trusted
    proxy's forwarded one)."""
    if request.client is None:
        return None
    return PsuContext(
        ip_address=request.client.host,
        user_agent=request.headers.get("user-agent"),
        accept_language=request.headers.get("accept-language"),
    )


def _language(request: Request) -> BrowserLanguage:
    """The holder's language as the request tells it (the bank's pages speak it too)."""
    return BrowserLanguage(
        chosen=supported(request.query_params.get("lang") or request.cookies.get(LANG_COOKIE)),
        accept_language=request.headers.get("accept-language"),
    )


def _visit(request: Request) -> Visit:
    return Visit.of(
        request.method, request.headers, request.client.host if request.client else None
    )


def _serve(
    request: Request, step: Callable[[HostedFlowService], _T], *, durable: bool = True
) -> _T:
    """Run one flow step in one transaction (called in a worker thread: bank calls block)."""
    runtime = _runtime(request)
    with runtime.database.unit_of_work(durable=durable) as db:
        return step(
            HostedFlowService(
                db,
                runtime,
                _context(request),
                psu=_holder(request),
                visit=_visit(request),
                language=_language(request),
            )
        )


def _attempt(
    address: LinkAddress,
    csrf: str | None,
    at: FlowStep,
    make: Callable[[HostedFlowService, Attempt], Reply],
) -> Callable[[Request], Reply]:
    """A credential attempt: counted and committed first, then made in a second
    transaction, so the count holds however the attempt ends."""

    def serve(request: Request) -> Reply:
        counted = _serve(request, lambda flow: flow.count_attempt(address, csrf, at))
        if isinstance(counted, Reply):
            return counted
        return _serve(request, lambda flow: make(flow, counted))

    return serve


@dataclass(frozen=True)
class Posted:
    """A hosted form's text fields (files are never expected)."""

    fields: dict[str, list[str]]

    def text(self, name: str) -> str:
        values = self.fields.get(name)
        return values[0] if values else ""

    def texts(self, name: str) -> list[str]:
        return self.fields.get(name, [])

    @property
    def csrf(self) -> str | None:
        return self.text("csrf_token") or None


async def _form(request: Request) -> Posted:
    form = await request.form()
    fields: dict[str, list[str]] = {}
    for key, value in form.multi_items():
        if isinstance(value, str):
            fields.setdefault(key, []).append(value)
    return Posted(fields)


async def _respond(
    request: Request,
    address: LinkAddress | None,
    step: Callable[[HostedFlowService], Reply],
    *,
    durable: bool = True,
) -> Response:
    return await _respond_with(
        request, address, lambda served: _serve(served, step, durable=durable)
    )


async def _respond_with(
    request: Request, address: LinkAddress | None, serve: Callable[[Request], Reply]
) -> Response:
    if (limited := _throttled(request, address)) is not None:
        return limited
    # The step and the page's rendering in one trip to a worker thread: the template
    # work stays off the event loop, which keeps accepting and answering other requests.
    return await run_in_threadpool(_serve_and_render, request, address, serve)


def _serve_and_render(
    request: Request, address: LinkAddress | None, serve: Callable[[Request], Reply]
) -> Response:
    reply = serve(request)
    if reply.redirect_to is not None:
        response = redirect(reply.redirect_to)
    else:
        assert reply.screen is not None
        assert request.method != "POST", "a form answers with a redirect, never a page"
        response = render_screen(request, reply.screen, address=address)
    set_cookies(response, reply.cookies, secure=secure_cookies(_runtime(request)))
    return response


@router.get(CALLBACK_PATH)
async def oauth_callback(request: Request) -> Response:
    query = request.query_params
    return await _respond(
        request,
        None,
        lambda flow: flow.oauth_callback(
            query.get("state"),
            query.get("code"),
            query.get("error"),
            request.cookies,
            params=dict(query.items()),
        ),
    )


def _link_routes(kind: LinkKind) -> None:
    """The pages and forms of one kind of link, below ``/{kind}/{token}``."""
    base = f"/{kind.value}/{{token}}"

    # HEAD too: a scanner's HEAD is answered (without a body) and recorded as ``scanned``.
    @router.api_route(base, methods=["GET", "HEAD"])
    async def link_page(request: Request, token: str) -> Response:
        address, query = LinkAddress(kind, token), request.query_params.get("q")
        note = request.query_params.get(NOTE_PARAM)
        # A page view writes only the link's visit mark (and what a lapsed link's expiry
        # records, consistently or not at all): its commit need not wait for the disk,
        # which keeps the landing's latency off the database's fsync stalls.
        return await _respond(
            request, address, lambda flow: flow.show(address, query, note), durable=False
        )

    @router.get(f"{base}/wait")
    async def wait(request: Request, token: str) -> Response:
        # The waiting page (decoupled approval in the bank's app) refreshes itself here.
        address = LinkAddress(kind, token)
        return await _respond(request, address, lambda flow: flow.wait(address))

    @router.post(f"{base}/continue")
    async def continue_(request: Request, token: str) -> Response:
        address, form = LinkAddress(kind, token), await _form(request)
        return await _respond(request, address, lambda flow: flow.start(address, form.csrf))

    @router.post(f"{base}/institution")
    async def institution(request: Request, token: str) -> Response:
        address, form = LinkAddress(kind, token), await _form(request)
        return await _respond(
            request,
            address,
            lambda flow: flow.choose_institution(address, form.csrf, form.text("institution")),
        )

    @router.post(f"{base}/credentials")
    async def credentials(request: Request, token: str) -> Response:
        address, form = LinkAddress(kind, token), await _form(request)
        username, password = form.text("username"), form.text("password")
        return await _respond_with(
            request,
            address,
            _attempt(
                address,
                form.csrf,
                FlowStep.credentials,
                lambda flow, attempt: flow.submit_credentials(
                    address, form.csrf, username, password, attempt
                ),
            ),
        )

    @router.post(f"{base}/challenge")
    async def challenge(request: Request, token: str) -> Response:
        address, form = LinkAddress(kind, token), await _form(request)
        return await _respond_with(
            request,
            address,
            _attempt(
                address,
                form.csrf,
                FlowStep.challenge,
                lambda flow, attempt: flow.answer_challenge(
                    address, form.csrf, form.text("answer"), attempt
                ),
            ),
        )

    @router.post(f"{base}/accounts")
    async def accounts(request: Request, token: str) -> Response:
        address, form = LinkAddress(kind, token), await _form(request)
        return await _respond(
            request,
            address,
            lambda flow: flow.choose_accounts(address, form.csrf, form.texts("account")),
        )

    @router.post(f"{base}/consent")
    async def consent(request: Request, token: str) -> Response:
        address, form = LinkAddress(kind, token), await _form(request)
        return await _respond(request, address, lambda flow: flow.consent(address, form.csrf))

    @router.post(f"{base}/cancel")
    async def ask_to_give_up(request: Request, token: str) -> Response:
        address, form = LinkAddress(kind, token), await _form(request)
        return await _respond(
            request, address, lambda flow: flow.ask_to_give_up(address, form.csrf)
        )

    @router.get(f"{base}/cancel")
    async def confirm_give_up(request: Request, token: str) -> Response:
        address = LinkAddress(kind, token)
        return await _respond(request, address, lambda flow: flow.confirm_give_up(address))

    @router.post(f"{base}/cancel/confirm")
    async def give_up(request: Request, token: str) -> Response:
        address, form = LinkAddress(kind, token), await _form(request)
        return await _respond(
            request,
            address,
            lambda flow: flow.give_up(address, form.csrf, form.text("confirmation") or None),
        )

    @router.post(f"{base}/new-link")
    async def ask_for_new_link(request: Request, token: str) -> Response:
        address, form = LinkAddress(kind, token), await _form(request)
        return await _respond(
            request, address, lambda flow: flow.ask_for_new_link(address, form.csrf)
        )

    @router.get(f"{base}/new-link")
    async def confirm_new_link(request: Request, token: str) -> Response:
        address = LinkAddress(kind, token)
        return await _respond(request, address, lambda flow: flow.confirm_new_link(address))

    @router.post(f"{base}/new-link/confirm")
    async def new_link(request: Request, token: str) -> Response:
        address, form = LinkAddress(kind, token), await _form(request)
        return await _respond(
            request,
            address,
            lambda flow: flow.request_new_link(
                address, form.csrf, form.text("confirmation") or None
            ),
        )

    @router.get(f"{base}/new-link/sent")
    async def new_link_sent(request: Request, token: str) -> Response:
        address = LinkAddress(kind, token)
        return await _respond(request, address, lambda flow: flow.new_link_sent(address))

    @router.get(f"{base}/brand.css")
    async def brand_stylesheet(request: Request, token: str) -> Response:
        address = LinkAddress(kind, token)
        if (limited := _throttled(request, address)) is not None:
            return limited
        return _css(await run_in_threadpool(brand_css, _runtime(request), address))

    @router.get(f"{base}/logo")
    async def logo(request: Request, token: str) -> Response:
        address = LinkAddress(kind, token)
        if (limited := _throttled(request, address)) is not None:
            return limited
        return _logo(await run_in_threadpool(platform_logo, _runtime(request), address))


for _kind in LinkKind:
    _link_routes(_kind)


def _css(css: str) -> Response:
    return Response(css, media_type="text/css", headers={"cache-control": "private, max-age=300"})


def _logo(found: bytes | None) -> Response:
    if found is None:
        return Response(status_code=404)
    return Response(
        found, media_type="image/png", headers={"cache-control": "private, max-age=300"}
    )


def _show_bundle(request: Request, address: BundleAddress) -> Response:
    runtime = _runtime(request)
    with runtime.database.read_only() as db:
        shown = bundle_screen(db, runtime, address.token)
    if shown is None:
        return render_screen(request, bare("not_found", 404), address=None)
    return render_screen(request, shown, address=address)


# HEAD too, as a link's page: the bundle's page only reads, whoever fetches it.
@router.api_route(f"/{BUNDLE_PATH}/{{token}}", methods=["GET", "HEAD"])
async def bundle_page(request: Request, token: str) -> Response:
    address = BundleAddress(token)
    if (limited := _throttled(request, address)) is not None:
        return limited
    return await run_in_threadpool(_show_bundle, request, address)


@router.get(f"/{BUNDLE_PATH}/{{token}}/brand.css")
async def bundle_stylesheet(request: Request, token: str) -> Response:
    if (limited := _throttled(request, BundleAddress(token))) is not None:
        return limited
    platform = await run_in_threadpool(bundle_platform, _runtime(request), token)
    return _css(brand_css_of(platform))


@router.get(f"/{BUNDLE_PATH}/{{token}}/logo")
async def bundle_logo(request: Request, token: str) -> Response:
    if (limited := _throttled(request, BundleAddress(token))) is not None:
        return limited
    platform = await run_in_threadpool(bundle_platform, _runtime(request), token)
    return _logo(logo_of(platform))


# -- stopping reminders (relink.hosted.reminders) -------------------------------------------


def _reminders_throttled(request: Request, token: str) -> Response | None:
    ip = request.client.host if request.client else None
    if throttle_for(_runtime(request)).allow(token=token, ip=ip):
        return None
    response = render_screen(request, bare("throttled", 429), address=None)
    response.headers["retry-after"] = "60"
    return response


@router.get(REMINDERS_PATH + "/{token}")
async def reminders_page(request: Request, token: str) -> Response:
    """Asks before anything changes: a scanner following the link stops nothing."""
    if (limited := _reminders_throttled(request, token)) is not None:
        return limited
    refused = request.query_params.get("refused") == "1"
    found = await run_in_threadpool(reminders_screen, _runtime(request), token, refused=refused)
    return render_screen(request, found or bare("not_found", 404), address=None)


@router.post(REMINDERS_PATH + "/{token}")
async def one_click_unsubscribe(request: Request, token: str) -> Response:
    """RFC 8058: the mail client's own button, without cookies or a CSRF token."""
    if (limited := _reminders_throttled(request, token)) is not None:
        return limited
    form = await _form(request)
    answer = await run_in_threadpool(
        one_click, _runtime(request), token, form.text("List-Unsubscribe")
    )
    if answer is None:
        return PlainTextResponse("Not found.\n", status_code=404)
    return PlainTextResponse(
        answer.text, status_code=answer.status_code, headers={"content-language": answer.locale}
    )


@router.post(REMINDERS_PATH + "/{token}/stop")
async def stop_reminders(request: Request, token: str) -> Response:
    if (limited := _reminders_throttled(request, token)) is not None:
        return limited
    form = await _form(request)
    stopped = await run_in_threadpool(stop_from_page, _runtime(request), token, form.csrf)
    page = f"{_runtime(request).settings.public_url.rstrip('/')}{REMINDERS_PATH}/{token}"
    # The page after it in the language the holder read it in (chosen there, maybe).
    query = {"refused": "1"} if stopped is False else {}
    if (lang := supported(form.text("lang"))) is not None:
        query["lang"] = lang
    return redirect(page + ("?" + urlencode(query) if query else ""))


@router.get(REMINDERS_PATH + "/{token}/brand.css")
async def reminders_stylesheet(request: Request, token: str) -> Response:
    colour, _unused = await run_in_threadpool(reminders_brand, _runtime(request), token)
    return _css(stylesheet(colour))


@router.get(REMINDERS_PATH + "/{token}/logo")
async def reminders_logo(request: Request, token: str) -> Response:
    _unused, logo = await run_in_threadpool(reminders_brand, _runtime(request), token)
    return _logo(png_logo(logo))


# --------------------------------------------------------------------------- consent page


def _consent(
    request: Request, step: Callable[[HolderConsentService], Reply]
) -> Callable[[Request], Reply]:
    def serve(served: Request) -> Reply:
        runtime = _runtime(served)
        with runtime.database.unit_of_work() as db:
            return step(HolderConsentService(db, runtime, _context(served)))

    return serve


@router.get(f"{CONSENT_PATH}/{{token}}")
async def consent_page(request: Request, token: str) -> Response:
    return await _respond_with(request, None, _consent(request, lambda c: c.show(token)))


@router.post(f"{CONSENT_PATH}/{{token}}/new-link")
async def ask_for_new_consent_link(request: Request, token: str) -> Response:
    form = await _form(request)
    return await _respond_with(
        request, None, _consent(request, lambda c: c.ask_for_new_link(token, form.csrf))
    )


@router.get(f"{CONSENT_PATH}/{{token}}/new-link")
async def new_consent_link_sent(request: Request, token: str) -> Response:
    return await _respond_with(request, None, _consent(request, lambda c: c.new_link_sent(token)))


@router.post(f"{CONSENT_PATH}/{{token}}/revoke")
async def ask_to_revoke(request: Request, token: str) -> Response:
    form = await _form(request)
    return await _respond_with(
        request,
        None,
        _consent(request, lambda c: c.ask_to_revoke(token, form.csrf, form.text("authorization"))),
    )


@router.get(f"{CONSENT_PATH}/{{token}}/revoke/{{authorization_id}}")
async def confirm_revoke(request: Request, token: str, authorization_id: str) -> Response:
    return await _respond_with(
        request, None, _consent(request, lambda c: c.confirm_revoke(token, authorization_id))
    )


@router.post(f"{CONSENT_PATH}/{{token}}/revoke/{{authorization_id}}")
async def revoke(request: Request, token: str, authorization_id: str) -> Response:
    form = await _form(request)
    return await _respond_with(
        request,
        None,
        _consent(
            request,
            lambda c: c.revoke(
                token, form.csrf, authorization_id, form.text("confirmation") or None
            ),
        ),
    )
