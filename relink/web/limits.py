"""Request bodies are bounded before anything reads them.

A body larger than its path's limit is refused before the app sees the request, so no
key lookup, session lookup, CSRF check or form parsing happens for it, and at most the
limit is ever read:

- a declared ``Content-Length`` over the limit is refused without reading a byte;
- a body of unknown length (chunked) is read up to the limit before the app runs, then
  handed to it; one byte more and it is refused, the rest never read.

The refusal closes the connection (the unread rest of the body cannot be skipped).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from starlette.responses import HTMLResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send


@dataclass(frozen=True)
class BodyLimit:
    """Bodies of requests whose path starts with ``prefix`` are at most ``max_bytes``;
    a larger one gets ``refusal(max_bytes)``."""

    prefix: str
    max_bytes: int
    refusal: Callable[[int], Response]


def html_refusal(max_bytes: int) -> Response:
    return HTMLResponse(
        "<!doctype html><title>Request too large</title>"
        f"<h1>Request too large</h1><p>This form accepts at most {max_bytes // 1024} KB.</p>",
        status_code=413,
    )


class BodyLimitMiddleware:
    """Applies the first :class:`BodyLimit` whose prefix matches, else ``default``."""

    def __init__(self, app: ASGIApp, limits: Sequence[BodyLimit], default: BodyLimit) -> None:
        self.app = app
        self.limits = tuple(limits)
        self.default = default

    def limit_for(self, path: str) -> BodyLimit:
        for limit in self.limits:
            if path.startswith(limit.prefix):
                return limit
        return self.default

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope.get("path", ""))
        declared = _content_length(scope)
        if declared is not None:
            # The server delivers no more than the declared length (h11 and httptools
            # both enforce it), so a declared length within the limit needs no counting.
            if declared > limit.max_bytes:
                await _refuse(limit, scope, receive, send)
                return
            await self.app(scope, receive, send)
            return
        if not _has_body(scope):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                # The client went away: the app sees the disconnect.
                await self.app(scope, _replay([], message, receive), send)
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit.max_bytes:
                await _refuse(limit, scope, receive, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        await self.app(scope, _replay(chunks, None, receive), send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _has_body(scope: Scope) -> bool:
    """A body without a declared length comes chunked."""
    return any(name == b"transfer-encoding" for name, _ in scope.get("headers", ()))


def _replay(chunks: list[bytes], ending: Message | None, receive: Receive) -> Receive:
    """A ``receive`` that first hands out the body read so far (in one message)."""
    pending: list[Message] = (
        [ending] if ending is not None else [{"type": "http.request", "body": b"".join(chunks)}]
    )

    async def replayed() -> Message:
        if pending:
            return pending.pop()
        return await receive()

    return replayed


async def _refuse(limit: BodyLimit, scope: Scope, receive: Receive, send: Send) -> None:
    response = limit.refusal(limit.max_bytes)
    response.headers["connection"] = "close"
    await response(scope, receive, send)
