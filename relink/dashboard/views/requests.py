"""Relink requests: every hosted relink session, filterable, with the funnel of the range."""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter, Depends
from starlette.requests import Request
from starlette.responses import Response

from relink.dashboard import queries
from relink.dashboard.views.accounts import read_cursor
from relink.dashboard.web import NotFound, Viewer, current_viewer, editor, page, redirect
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
