"""Institutions: the banks of this mode, their connector, health and this platform's
accounts there. Read-only, but for releasing an incident's hold: operators configure
institutions with ``relink institutions``."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from relink.dashboard import queries
from relink.dashboard.web import NotFound, Viewer, current_viewer, editor, form_data, page, redirect
from relink.institutions.incidents import find_open, release

router = APIRouter()


@router.get("/institutions")
def institutions(request: Request, viewer: Viewer = Depends(current_viewer)) -> Response:
    with viewer.runtime.database.read_only() as db:
        rows = queries.institutions_page(db, viewer.scope)
    return page(request, viewer, "institutions.html", {"rows": rows})


@router.get("/incidents/{incident_id}/release")
def release_page(
    request: Request, incident_id: str, viewer: Viewer = Depends(current_viewer)
) -> Response:
    with viewer.runtime.database.read_only() as db:
        incident = find_open(db, viewer.scope, incident_id)
    if incident is None:
        raise NotFound()
    return page(request, viewer, "incident_release.html", {"incident": incident})


@router.post("/incidents/{incident_id}/release")
def release_hold(
    incident_id: str, viewer: Viewer = Depends(editor), form: FormData = Depends(form_data)
) -> Response:
    with viewer.runtime.database.unit_of_work() as db:
        released = release(db, viewer.scope, incident_id, actor=viewer.email)
    return redirect(
        "/institutions", notice="incident_released" if released else "incident_not_open"
    )
