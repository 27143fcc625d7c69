"""Institutions: the banks of this mode, their connector, health and this platform's
accounts there. Read-only: operators configure institutions with ``relink institutions``."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from starlette.requests import Request
from starlette.responses import Response

from relink.dashboard import queries
from relink.dashboard.web import Viewer, current_viewer, page

router = APIRouter()


@router.get("/institutions")
def institutions(request: Request, viewer: Viewer = Depends(current_viewer)) -> Response:
    with viewer.runtime.database.read_only() as db:
        rows = queries.institutions_page(db, viewer.scope)
    return page(request, viewer, "institutions.html", {"rows": rows})
