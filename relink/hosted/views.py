"""Routes of the hosted relink pages: decode → one service call → render.

Every page is server-rendered and works without JavaScript. A ``GET`` of a link only
marks it viewed; every change is a ``POST`` with the CSRF token bound to the link.
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from relink.events.service import EventContext
from relink.hosted.rendering import redirect, render_screen
from relink.relink.branding import brand_css, platform_logo
from relink.relink.flow import CALLBACK_PATH, HostedFlowService, Reply
from relink.relink.links import throttle_for
from relink.relink.screens import bare
from relink.runtime import Runtime

router = APIRouter(include_in_schema=False)

FormFields = dict[str, str]


def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def _context(request: Request, runtime: Runtime) -> EventContext:
    return EventContext(
        api_version=runtime.settings.default_api_version,
        request_id=getattr(request.state, "request_id", None),
    )


def _throttled(request: Request, token: str | None) -> Response | None:
    ip = request.client.host if request.client else None
    if throttle_for(_runtime(request)).allow(token=token, ip=ip):
        return None
    response = render_screen(request, bare("throttled", 429), token=token)
    response.headers["retry-after"] = "60"
    return response


def _serve(
    request: Request, token: str | None, step: Callable[[HostedFlowService], Reply]
) -> Reply:
    """Run one flow step in one transaction (called in a worker thread: bank calls block)."""
    runtime = _runtime(request)
    with runtime.database.unit_of_work() as db:
        return step(HostedFlowService(db, runtime, _context(request, runtime)))


async def _form(request: Request) -> FormFields:
    form = await request.form()
    return {key: value for key, value in form.items() if isinstance(value, str)}


async def _respond(
    request: Request, token: str | None, step: Callable[[HostedFlowService], Reply]
) -> Response:
    if (limited := _throttled(request, token)) is not None:
        return limited
    reply = await run_in_threadpool(_serve, request, token, step)
    if reply.redirect_to is not None:
        return redirect(reply.redirect_to)
    assert reply.screen is not None
    return render_screen(request, reply.screen, token=token)


@router.get(CALLBACK_PATH)
async def oauth_callback(request: Request) -> Response:
    query = request.query_params
    return await _respond(
        request,
        None,
        lambda flow: flow.oauth_callback(query.get("state"), query.get("code"), query.get("error")),
    )


@router.get("/relink/{token}")
async def link_page(request: Request, token: str) -> Response:
    return await _respond(request, token, lambda flow: flow.show(token))


@router.post("/relink/{token}/continue")
async def continue_(request: Request, token: str) -> Response:
    form = await _form(request)
    return await _respond(request, token, lambda flow: flow.start(token, form.get("csrf_token")))


@router.post("/relink/{token}/credentials")
async def credentials(request: Request, token: str) -> Response:
    form = await _form(request)
    return await _respond(
        request,
        token,
        lambda flow: flow.submit_credentials(
            token, form.get("csrf_token"), form.get("username", ""), form.get("password", "")
        ),
    )


@router.post("/relink/{token}/challenge")
async def challenge(request: Request, token: str) -> Response:
    form = await _form(request)
    return await _respond(
        request,
        token,
        lambda flow: flow.answer_challenge(token, form.get("csrf_token"), form.get("answer", "")),
    )


@router.post("/relink/{token}/cancel")
async def give_up(request: Request, token: str) -> Response:
    form = await _form(request)
    return await _respond(request, token, lambda flow: flow.give_up(token, form.get("csrf_token")))


@router.post("/relink/{token}/new-link")
async def new_link(request: Request, token: str) -> Response:
    form = await _form(request)
    return await _respond(
        request, token, lambda flow: flow.request_new_link(token, form.get("csrf_token"))
    )


@router.get("/relink/{token}/brand.css")
async def brand_stylesheet(request: Request, token: str) -> Response:
    if (limited := _throttled(request, token)) is not None:
        return limited
    css = await run_in_threadpool(brand_css, _runtime(request), token)
    return Response(css, media_type="text/css", headers={"cache-control": "private, max-age=300"})


@router.get("/relink/{token}/logo")
async def logo(request: Request, token: str) -> Response:
    if (limited := _throttled(request, token)) is not None:
        return limited
    found = await run_in_threadpool(platform_logo, _runtime(request), token)
    if found is None:
        return Response(status_code=404)
    return Response(
        found, media_type="image/png", headers={"cache-control": "private, max-age=300"}
    )
