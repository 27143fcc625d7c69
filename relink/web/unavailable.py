"""Answers for a database that cannot serve now: 503 with ``Retry-After``.

A lock held too long, no pooled connection in time, the server unreachable: each is a
condition that passes, so clients are told to come back (Stripe's SDKs retry a 503), and
the request gives its connection back at once instead of queueing behind the lock.
"""

from __future__ import annotations

from starlette.responses import HTMLResponse, Response

RETRY_AFTER_SECONDS = 5
UNAVAILABLE_MESSAGE = (
    "Relink cannot reach its database right now (it is busy or unavailable). "
    "Please retry in a few seconds"
)


def retry_after() -> dict[str, str]:
    return {"Retry-After": str(RETRY_AFTER_SECONDS)}


def html_unavailable() -> Response:
    """The page a browser gets: plain, with no template (rendering needs no database)."""
    return HTMLResponse(
        "<!doctype html><meta charset=utf-8><title>Temporarily unavailable</title>"
        "<h1>Temporarily unavailable</h1>"
        "<p>Relink is busy right now and could not finish this page. "
        "Nothing was lost: please try again in a few seconds.</p>",
        status_code=503,
        headers=retry_after(),
    )
