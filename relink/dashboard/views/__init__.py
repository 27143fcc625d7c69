"""Dashboard views, one module per area; each module has a ``router``."""

from __future__ import annotations

from fastapi import APIRouter

from relink.dashboard.views import (
    accounts,
    auth,
    developers,
    holders,
    institutions,
    mailbox,
    reports,
    requests,
    settings,
)

ROUTERS: list[APIRouter] = [
    auth.router,
    accounts.router,
    holders.router,
    requests.router,
    reports.router,
    institutions.router,
    mailbox.router,
    developers.router,
    settings.router,
]
