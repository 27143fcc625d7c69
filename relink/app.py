"""create_app(settings): routers, middleware, error handlers, mounts."""

from __future__ import annotations

import secrets
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio.to_thread
import structlog
from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy import exc as sqlalchemy_exc
from sqlalchemy import text
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from relink.api.openapi import openapi_document
from relink.api.router import MAX_BODY_BYTES, error_response, request_id_of, unavailable
from relink.config import Settings
from relink.dashboard import install_dashboard
from relink.hosted.flow import CALLBACK_PATH
from relink.hosted.views import router as hosted_router
from relink.kit.api_versions import LATEST_API_VERSION
from relink.kit.crypto import constant_time_equals
from relink.kit.errors import InvalidRequest, ResourceMissing
from relink.kit.heap import freeze_startup_heap
from relink.kit.logs import configure_logging
from relink.kit.metrics import HTTP_LATENCY, HTTP_REQUESTS
from relink.kit.metrics import render as render_metrics
from relink.kit.ratelimit import RateLimiter
from relink.outbox.stats import outbox_stats
from relink.routes import API_ROUTERS, EXPANSIONS
from relink.runtime import Runtime
from relink.web.bench_floor import install_bench_floors
from relink.web.limits import BodyLimit, BodyLimitMiddleware, html_refusal
from relink.web.security import SecurityHeadersMiddleware
from relink.web.unavailable import html_unavailable, retry_after

log = structlog.get_logger("relink.web")

STATIC_DIR = Path(__file__).resolve().parent / "static"

# Request bodies, by path: API calls as Stripe's API; the dashboard's settings form carries
# a logo (up to 256 KB); every other form (sign-in, hosted pages, the sandbox bank) is a few
# fields, and the largest, a dashboard selection of 1,000 accounts, is about 40 KB.
FORM_BODY_BYTES = 64 * 1024
SETTINGS_BODY_BYTES = 1024 * 1024


def _api_body_refusal(max_bytes: int) -> Response:
    error = InvalidRequest(f"Request body too large: at most {max_bytes} bytes are accepted.")
    response = error_response(error)
    response.headers["Stripe-Version"] = LATEST_API_VERSION
    return response


BODY_LIMITS = (
    BodyLimit("/v1/", MAX_BODY_BYTES, _api_body_refusal),
    BodyLimit("/settings", SETTINGS_BODY_BYTES, html_refusal),
)


class RequestIdMiddleware:
    """Gives every request an id (``req_…``) and puts it on the response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = "req_" + secrets.token_urlsafe(12)
        scope.setdefault("state", {})["request_id"] = request_id
        structlog.contextvars.bind_contextvars(request_id=request_id)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"request-id", request_id.encode()))
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or _route_family(scope.get("path", ""))
            elapsed = time.perf_counter() - started
            HTTP_REQUESTS.labels(scope["method"], template, str(status)).inc()
            HTTP_LATENCY.labels(scope["method"], template).observe(elapsed)
            structlog.contextvars.unbind_contextvars("request_id")


def _route_family(path: str) -> str:
    """A low-cardinality label for paths no route matched (or mounted apps)."""
    first = path.strip("/").split("/", 1)[0]
    return f"/{first}/…" if first else "/"


class OwnRouterScope:
    """Lets a mounted app resolve its own route names (``url_for``) with its own router."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope = dict(scope)
        scope.pop("router", None)
        scope["app_root_path"] = scope.get("root_path", "")
        await self.app(scope, receive, send)


def _may_read_metrics(settings: Settings, authorization: str | None) -> bool:
    """With ``RELINK_METRICS_TOKEN``, its bearer only; without, anyone but in production.

    A refusal looks like no route at all (404), so a scan learns nothing."""
    if settings.metrics_token is None:
        return settings.env != "production"
    expected = f"Bearer {settings.metrics_token}"
    return authorization is not None and constant_time_equals(authorization, expected)


HEALTH_TIMEOUT_SECONDS = 2.0
HEALTH_THREADS = 2


def _check_database(runtime: Runtime) -> None:
    with runtime.database.engine.connect() as connection:
        if runtime.database.engine.dialect.name == "postgresql":
            connection.execute(text(f"SET LOCAL statement_timeout = {HEALTH_STATEMENT_MS}"))
        connection.execute(text("SELECT 1"))


HEALTH_STATEMENT_MS = int(HEALTH_TIMEOUT_SECONDS * 1000)


def _unhealthy(reason: str) -> Response:
    return JSONResponse(
        {"status": "unavailable", "reason": reason}, status_code=503, headers=retry_after()
    )


def create_app(settings: Settings | None = None, runtime: Runtime | None = None) -> FastAPI:
    runtime = runtime or Runtime.from_settings(settings or Settings())
    configure_logging(json_lines=runtime.settings.env == "production")

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        anyio.to_thread.current_default_thread_limiter().total_tokens = runtime.settings.web_threads
        background = None
        if runtime.settings.in_process_worker:
            from relink.worker import BackgroundWorker

            background = BackgroundWorker(runtime)
            background.start()
        try:
            yield
        finally:
            if background is not None:
                background.stop()
            # A mounted app gets no lifespan events of its own: close the bank's pool here.
            bank = getattr(_app.state, "sandbox_bank_app", None)
            if bank is not None:
                bank.state.sandbox_bank.store.dispose()

    app = FastAPI(
        title="Relink", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan
    )
    app.state.runtime = runtime
    app.state.rate_limiters = {
        False: RateLimiter(
            runtime.settings.rate_limit_test_per_second, runtime.settings.rate_limit_burst
        ),
        True: RateLimiter(
            runtime.settings.rate_limit_live_per_second, runtime.settings.rate_limit_burst
        ),
    }
    app.state.expansions = EXPANSIONS
    for router in API_ROUTERS:
        app.router.routes.extend(router.routes)

    health_threads = anyio.CapacityLimiter(HEALTH_THREADS)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> Response:
        # Its own threads (request threads may all be waiting on the database) and its
        # own deadline: a load balancer gets an answer in HEALTH_TIMEOUT_SECONDS, and
        # 200 only when this process can get a connection and run a query in that time.
        try:
            with anyio.fail_after(HEALTH_TIMEOUT_SECONDS):
                await anyio.to_thread.run_sync(
                    _check_database, runtime, limiter=health_threads, abandon_on_cancel=True
                )
        except TimeoutError:
            return _unhealthy("the database did not answer in time")
        except Exception as error:
            return _unhealthy(str(error).strip().splitlines()[0] if str(error) else "error")
        return JSONResponse({"status": "ok"})

    async def database_unavailable_handler(request: Request, error: Exception) -> Response:
        log.warning(
            "web.database_unavailable", path=request.url.path, error=str(error).splitlines()[0]
        )
        if request.url.path.startswith("/v1/"):
            response = error_response(unavailable(request_id_of(request)))
            response.headers["Stripe-Version"] = LATEST_API_VERSION
            return response
        return html_unavailable()

    # Pages and forms (the API answers in its own router, in Stripe's shape).
    app.add_exception_handler(sqlalchemy_exc.OperationalError, database_unavailable_handler)
    app.add_exception_handler(sqlalchemy_exc.TimeoutError, database_unavailable_handler)

    @app.get("/metrics", include_in_schema=False)
    def metrics(request: Request) -> Response:
        if not _may_read_metrics(runtime.settings, request.headers.get("authorization")):
            return PlainTextResponse("Not Found", status_code=404)
        return Response(
            render_metrics(lambda: outbox_stats(runtime)), media_type=CONTENT_TYPE_LATEST
        )

    if runtime.settings.bench_hello:
        # RELINK_BENCH_HELLO=1 (bench/ only): the floors the benchmarks compare against,
        # measured in this server. Off by default.
        install_bench_floors(app, runtime)

    document = openapi_document(op for router in API_ROUTERS for op in router.operations)

    @app.get("/v1/openapi.json", include_in_schema=False)
    def openapi() -> Response:
        return JSONResponse(document)

    @app.api_route(
        "/v1/{rest:path}",
        methods=["GET", "POST", "DELETE", "PUT", "PATCH"],
        include_in_schema=False,
    )
    def unknown_api_route(request: Request, rest: str) -> Response:
        error = ResourceMissing("route", rest)
        error.message = f"Unrecognized request URL ({request.method}: /v1/{rest})."
        error.instance_code = None
        error.param = None
        response = error_response(error)
        response.headers["Stripe-Version"] = (
            request.headers.get("stripe-version") or LATEST_API_VERSION
        )
        return response

    app.mount("/static", StaticFiles(directory=str(STATIC_DIR)), name="static")
    install_dashboard(app)
    app.include_router(hosted_router)
    if runtime.settings.mounts_sandbox_bank:
        from relink.sandbox_bank import create_sandbox_bank_app

        runtime.settings.var_dir.mkdir(parents=True, exist_ok=True)
        bank = create_sandbox_bank_app(
            runtime.settings.resolved_sandbox_bank_database_url,
            public_url=runtime.settings.resolved_sandbox_bank_url,
            secret_key=runtime.settings.resolved_secret_key,
            redirect_uris=[runtime.settings.public_url.rstrip("/") + CALLBACK_PATH],
        )
        app.mount("/sandbox-bank", OwnRouterScope(bank), name="sandbox_bank")
        app.state.sandbox_bank_app = bank
    # Before any part of the app reads a body (key or session lookups, CSRF checks).
    app.add_middleware(
        BodyLimitMiddleware,
        limits=BODY_LIMITS,
        default=BodyLimit("/", FORM_BODY_BYTES, html_refusal),
    )
    app.add_middleware(SecurityHeadersMiddleware, hsts=runtime.settings.env == "production")
    app.add_middleware(RequestIdMiddleware)
    if runtime.settings.trusted_proxies:
        # Outermost: every part of the app sees the client behind the load balancer
        # (throttles, secure cookies), and only a trusted peer's headers are believed.
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=runtime.settings.trusted_proxies)
    return app


def asgi_factory() -> Any:
    """Entry point for ``uvicorn --factory relink.app:asgi_factory`` (``relink serve``)."""
    app = create_app()
    freeze_startup_heap()
    return app
