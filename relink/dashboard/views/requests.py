"""Relink requests: every hosted relink session, filterable, with the funnel of the range;
one request's page (timeline, the email as sent, the outcome) with Cancel, which asks
first, and Resend for a pending one."""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter, Depends
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from relink.dashboard import queries
from relink.dashboard.relink_requests import cancel_request, resend_request
from relink.dashboard.views.accounts import EMAIL_PREVIEW_CSP, read_cursor
from relink.dashboard.web import (
    Forbidden,
    NotFound,
    Viewer,
    current_viewer,
    editor,
    page,
    redirect,
)
from relink.email.preview import html_for_browser, request_email
from relink.kit.i18n import N_
from relink.kit.provenance import EventContext
from relink.models import SessionStatus
from relink.sessions.service import SessionService

router = APIRouter()


def _day(value: str | None) -> dt.datetime | None:
    try:
        return dt.datetime.strptime(value or "", "%Y-%m-%d").replace(tzinfo=dt.UTC)
    except ValueError:
        return None


@router.get("/relink-requests")
def relink_requests(request: Request, viewer: Viewer = Depends(current_viewer)) -> Response:
    params = request.query_params
    status = params.get("status") if params.get("status") in set(SessionStatus) else None
    outcome = (params.get("outcome") or "").strip()[:30] or None
    since, until = _day(params.get("since")), _day(params.get("until"))
    request_filter = queries.RequestFilter(
        status=status,
        outcome=outcome,
        since=since,
        until=until + dt.timedelta(days=1) if until else None,
    )
    with viewer.runtime.database.read_only() as db:
        found = queries.requests_page(db, viewer.scope, request_filter, read_cursor(request))
        funnel = queries.funnel(db, viewer.scope, request_filter)
        related = queries.request_rows(db, viewer.scope, found.items)
        given_up = queries.given_up_emails(db, viewer.scope)
    query = {
        key: value
        for key, value in (
            ("status", status),
            ("outcome", outcome),
            ("since", params.get("since") if since else None),
            ("until", params.get("until") if until else None),
        )
        if value
    }
    return page(
        request,
        viewer,
        "requests.html",
        {
            "sessions": found.items,
            "given_up": given_up,
            "has_more": found.has_more,
            "funnel": funnel,
            "related": related,
            "statuses": [s.value for s in SessionStatus],
            "query": query,
            "cursor_given": bool(params.get("starting_after") or params.get("ending_before")),
        },
    )


@router.post("/relink-requests/{session_id}/resend-email")
def resend_email(session_id: str, viewer: Viewer = Depends(editor)) -> Response:
    with viewer.runtime.database.unit_of_work() as db:
        service = SessionService(db, viewer.scope, viewer.runtime, EventContext())
        queued = service.resend_given_up_email(session_id)
    if not queued:
        raise NotFound()
    return redirect("/relink-requests", notice="email_resent")


def _detail(viewer: Viewer, session_id: str) -> queries.RequestDetail:
    with viewer.runtime.database.read_only() as db:
        detail = queries.request_detail(db, viewer.scope, session_id)
    if detail is None:
        raise NotFound()
    return detail


@router.get("/relink-requests/{session_id}")
def relink_request(
    request: Request, session_id: str, viewer: Viewer = Depends(current_viewer)
) -> Response:
    scope = viewer.scope
    with viewer.runtime.database.read_only() as db:
        detail = queries.request_detail(db, scope, session_id)
        if detail is None:
            raise NotFound()
        email = request_email(db, scope, viewer.runtime, detail.session)
    return page(request, viewer, "request.html", {"detail": detail, "email": email})


@router.get("/relink-requests/{session_id}/email.html")
def relink_request_email(session_id: str, viewer: Viewer = Depends(current_viewer)) -> Response:
    scope = viewer.scope
    with viewer.runtime.database.read_only() as db:
        detail = queries.request_detail(db, scope, session_id)
        email = request_email(db, scope, viewer.runtime, detail.session) if detail else None
    if email is None:
        raise NotFound()
    return HTMLResponse(
        html_for_browser(email),
        headers={
            "content-security-policy": EMAIL_PREVIEW_CSP,
            "x-frame-options": "SAMEORIGIN",
            "cache-control": "no-store",
        },
    )


@router.get("/relink-requests/{session_id}/cancel")
def confirm_cancel(
    request: Request, session_id: str, viewer: Viewer = Depends(current_viewer)
) -> Response:
    """Cancelling ends the holder's link at once: this page asks first."""
    if not viewer.can_edit:
        raise Forbidden(N_("Viewers have read-only access; ask an owner or admin."))
    detail = _detail(viewer, session_id)
    return page(request, viewer, "request_cancel.html", {"detail": detail})


@router.post("/relink-requests/{session_id}/cancel")
def cancel(session_id: str, viewer: Viewer = Depends(editor)) -> Response:
    with viewer.runtime.database.unit_of_work() as db:
        found = queries.request_detail(db, viewer.scope, session_id) is not None
        cancelled = found and cancel_request(
            db, viewer.scope, viewer.runtime, session_id, viewer.actor
        )
    if not found:
        raise NotFound()
    notice = "request_cancelled" if cancelled else "request_finished"
    return redirect(f"/relink-requests/{session_id}", notice=notice)


@router.post("/relink-requests/{session_id}/resend")
def resend(session_id: str, viewer: Viewer = Depends(editor)) -> Response:
    with viewer.runtime.database.unit_of_work() as db:
        found = queries.request_detail(db, viewer.scope, session_id) is not None
        queued = found and resend_request(db, viewer.scope, viewer.runtime, session_id)
    if not found:
        raise NotFound()
    notice = "email_resent" if queued else "email_not_resent"
    return redirect(f"/relink-requests/{session_id}", notice=notice)
