"""The sandbox bank's ASGI app factory and its standalone runner."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from relink.sandbox_bank import api, web
from relink.sandbox_bank.errors import BankError
from relink.sandbox_bank.pages import Pages
from relink.sandbox_bank.psd2 import api as psd2_api
from relink.sandbox_bank.psd2 import web as psd2_web
from relink.sandbox_bank.store import Store

DEFAULT_DATABASE_URL = "sqlite:///sandbox_bank.db"
STATIC_DIR = Path(__file__).parent / "static"

_BASELINE_HEADERS = (
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'"),
)


class BaselineHeaders:
    """Adds safe defaults to every response that did not set them itself."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers += [(k, v) for k, v in _BASELINE_HEADERS if k not in present]
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _bank_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, BankError)
    return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers)


def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse(
        {"error": "invalid_request", "error_description": "The request body is malformed."},
        status_code=400,
    )


def create_sandbox_bank_app(
    database_url: str = DEFAULT_DATABASE_URL,
    *,
    public_url: str = "http://127.0.0.1:8001",
    secret_key: str | None = None,
    redirect_uris: Sequence[str] = (),
    pages_url: str | None = None,
) -> FastAPI:
    """Build the bank. Creates its tables (`metadata.create_all`) right away, because a
    mounted sub-app gets no lifespan events. `public_url` is where the bank is reachable
    (its OAuth issuer); page links come from the request, so a path prefix just works.
    `secret_key` signs CSRF tokens and cookies; by default a secret stored in the bank's
    own database is used, so every process sharing the database agrees on it.
    `redirect_uris` are where the built-in sandbox client may send a browser back (the
    host app's OAuth callbacks); registered clients return to their own registered URIs.
    """
    store = Store(database_url)
    stored_secret = store.setup()

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        store.dispose()

    app = FastAPI(
        title="Sandbox Bank",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        lifespan=lifespan,
    )
    app.state.sandbox_bank = web.BankContext(
        store=store,
        pages=Pages(secret_key or stored_secret),
        public_url=public_url.rstrip("/"),
        sandbox_redirect_uris=tuple(redirect_uris),
        pages_url=pages_url.rstrip("/") if pages_url else None,
    )
    app.add_exception_handler(BankError, _bank_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.include_router(api.router)
    for router in psd2_api.routers():
        app.include_router(router)
    app.include_router(psd2_web.router)
    app.include_router(web.router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="sandbox_bank_static")
    app.add_middleware(BaselineHeaders)
    return app


@dataclass(frozen=True, slots=True)
class TlsFiles:
    """Serve over TLS; with `client_ca`, only clients whose certificate that CA signed
    get through the handshake (mutual TLS, as an ASPSP asks of a TPP's QWAC)."""

    cert: str
    key: str
    client_ca: str | None = None


def run(
    port: int,
    host: str = "127.0.0.1",
    database_url: str = DEFAULT_DATABASE_URL,
    redirect_uris: Sequence[str] = (),
    *,
    tls: TlsFiles | None = None,
    pages_port: int | None = None,
) -> None:
    """Serve the bank alone (what `relink sandbox-bank --port N` calls). With
    `pages_port`, the same bank also listens there over TLS *without* asking for a
    client certificate, and sends holders' browsers there (its SCA pages, the OAuth2
    pre-step, the security center): an ASPSP's API wants the TPP's certificate, its
    pages are for people."""
    import asyncio
    import ssl

    import uvicorn

    public_host = "127.0.0.1" if host in ("0.0.0.0", "::") else host  # noqa: S104
    scheme = "https" if tls is not None else "http"
    pages_url = f"{scheme}://{public_host}:{pages_port}" if pages_port else None
    app = create_sandbox_bank_app(
        database_url,
        public_url=f"{scheme}://{public_host}:{port}",
        redirect_uris=redirect_uris,
        pages_url=pages_url,
    )
    options: dict[str, Any] = {}
    if tls is not None:
        options = {"ssl_certfile": tls.cert, "ssl_keyfile": tls.key}
    api_options = dict(options)
    if tls is not None and tls.client_ca is not None:
        api_options.update(ssl_ca_certs=tls.client_ca, ssl_cert_reqs=ssl.CERT_REQUIRED)
    common: dict[str, Any] = {"host": host, "log_level": "warning", "ws": "none"}
    servers = [uvicorn.Server(uvicorn.Config(app, port=port, **common, **api_options))]
    if pages_port:
        servers.append(uvicorn.Server(uvicorn.Config(app, port=pages_port, **common, **options)))

    async def serve_all() -> None:
        await asyncio.gather(*(server.serve() for server in servers))

    asyncio.run(serve_all())
