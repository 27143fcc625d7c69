"""Dashboard views, one module per area; each module has a ``router``."""

from __future__ import annotations

from fastapi import APIRouter

from relink.dashboard.views import accounts, auth, holders, requests

ROUTERS: list[APIRouter] = [
    auth.router,
    accounts.router,
    holders.router,
    requests.router,
]
