"""Holder-facing hosted pages of relink and link sessions (thin views over relink.relink)."""

from __future__ import annotations

from fastapi import FastAPI

from relink.hosted.views import router


def install_hosted(app: FastAPI) -> None:
    app.include_router(router)
