"""Mailbox: the emails the built-in mailbox backend "sent", as their recipients see them.

Shown only while ``RELINK_EMAIL_BACKEND=mailbox``. Each email's HTML is served from its
own URL with its own policy (like the email preview) and shown in a sandboxed frame;
links open in a new tab, as in a webmail, since the hosted pages refuse to be framed.
"""

from __future__ import annotations

import re

from fastapi import APIRouter, Depends
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from relink.dashboard import queries
from relink.dashboard.views.accounts import EMAIL_PREVIEW_CSP, read_cursor
from relink.dashboard.web import NotFound, Viewer, current_viewer, page
from relink.email.repository import MailboxRepository

router = APIRouter()

_HEAD = re.compile(r"<head\b[^>]*>", re.IGNORECASE)
LINKS_IN_NEW_TAB = '<base target="_blank">'


def links_open_in_new_tab(html: str) -> str:
    """The email's HTML with a ``<base target>``, so its links leave the frame."""
    head = _HEAD.search(html)
    if head is None:
        return LINKS_IN_NEW_TAB + html
    return html[: head.end()] + LINKS_IN_NEW_TAB + html[head.end() :]


def _mailbox_viewer(viewer: Viewer = Depends(current_viewer)) -> Viewer:
    if not viewer.mailbox_enabled:
        raise NotFound()
    return viewer


@router.get("/mailbox")
def mailbox(request: Request, viewer: Viewer = Depends(_mailbox_viewer)) -> Response:
    session_id = (request.query_params.get("session") or "").strip()[:40] or None
    with viewer.runtime.database.read_only() as db:
        found = queries.mailbox_page(
            db,
            viewer.scope,
            viewer.user_id,
            session_id,
            read_cursor(request, queries.MAILBOX_PAGE_SIZE),
        )
    params = request.query_params
    return page(
        request,
        viewer,
        "mailbox.html",
        {
            "messages": found.items,
            "has_more": found.has_more,
            "session_id": session_id or "",
            "query": {"session": session_id} if session_id else {},
            "cursor_given": bool(params.get("starting_after") or params.get("ending_before")),
        },
    )


@router.get("/mailbox/{message_id}.html")
def mailbox_frame(message_id: str, viewer: Viewer = Depends(_mailbox_viewer)) -> Response:
    with viewer.runtime.database.read_only() as db:
        message = MailboxRepository(db, viewer.scope, reader=viewer.user_id).find(message_id)
        if message is None:
            raise NotFound()
        html = links_open_in_new_tab(message.html)
    return HTMLResponse(
        html,
        headers={
            "content-security-policy": EMAIL_PREVIEW_CSP,
            "x-frame-options": "SAMEORIGIN",
            "cache-control": "no-store",
        },
    )
