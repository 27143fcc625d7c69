"""The operator dashboard: server-rendered pages at the site root (/login, /accounts…)."""

from __future__ import annotations

from fastapi import FastAPI


def install_dashboard(app: FastAPI) -> None:
    """Add the dashboard's routes and error pages to the app."""
    from relink.dashboard.views import ROUTERS
    from relink.dashboard.web import install_error_pages

    for router in ROUTERS:
        app.include_router(router)
    install_error_pages(app)
