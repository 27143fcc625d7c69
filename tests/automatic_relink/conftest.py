from __future__ import annotations

from tests.hosted.conftest import http

__all__ = ["http"]  # the holder's browser-like client, as the hosted tests use it
