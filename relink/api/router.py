"""The /v1 request pipeline, in one place.

decode (form or JSON) → authenticate the key → rate limit → idempotency →
run the handler in a unit of work → expand → render, with Stripe's error envelope,
``Request-Id`` and ``Stripe-Version`` on every answer. Handlers are plain functions
``(call: ApiCall[TheirParams]) -> dict`` that take the parameters their route declares
(:mod:`relink.api.params`, already read), call one service and return the wire object;
they never commit.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import structlog
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from relink.api import expand as expansion
from relink.api.auth import Caller, authenticate, record_key_use
from relink.api.idempotency import IdempotencyGate, Replay
from relink.api.params import EndpointParams, parse
from relink.db import database_unavailable
from relink.kit.api_versions import LATEST_API_VERSION, is_known_api_version
from relink.kit.errors import (
    ApiError,
    ApiServerError,
    InvalidRequest,
    RateLimited,
    ServiceUnavailable,
)
from relink.kit.forms import MAX_DEPTH as MAX_FORM_DEPTH
from relink.kit.forms import FormError, decode_query
from relink.kit.provenance import EventContext
from relink.runtime import Runtime
from relink.tenancy import Scope
from relink.web.unavailable import UNAVAILABLE_MESSAGE, retry_after

log = structlog.get_logger("relink.api")

P = TypeVar("P", bound=EndpointParams)
Handler = Callable[["ApiCall[P]"], dict[str, Any]]
Fetcher = Callable[["ApiCall[Any]", str], dict[str, Any] | None]

# Refused before the request is read (relink.web.limits, installed by create_app).
MAX_BODY_BYTES = 1_000_000


@dataclass
class ApiCall(Generic[P]):
    session: Session
    scope: Scope
    # The request's parameters, read as the route declares them.
    params: P
    path: dict[str, str]
    runtime: Runtime
    request_id: str
    api_version: str
    key_id: str
    idempotency_key: str | None = None
    context: dict[str, Any] = field(default_factory=dict)
    # id prefix → fetcher for ``expand[]``: the app's list (relink.routes), given by create_app.
    fetchers: Mapping[str, Fetcher] = field(default_factory=dict)

    @property
    def event_context(self) -> EventContext:
        return EventContext(self.request_id, self.idempotency_key)

    @property
    def actor(self) -> str:
        return f"api_key:{self.key_id}"

    def fetch(self, object_id: str) -> dict[str, Any] | None:
        prefix = object_id.split("_", 1)[0]
        fetcher = self.fetchers.get(prefix)
        return fetcher(self, object_id) if fetcher else None


def json_response(
    body: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    return Response(
        json.dumps(body, separators=(",", ":"), ensure_ascii=False),
        status_code=status,
        media_type="application/json",
        headers=headers,
    )


def error_response(error: ApiError) -> Response:
    return json_response(error.body(), error.status, error.headers)


def unavailable(request_id: str) -> ServiceUnavailable:
    return ServiceUnavailable(
        f"{UNAVAILABLE_MESSAGE} (request {request_id})", headers=retry_after()
    )


def request_id_of(request: Request) -> str:
    return str(getattr(request.state, "request_id", "req_unknown"))


@dataclass(frozen=True)
class Operation:
    """One route and the declaration of its parameters (what the OpenAPI document lists)."""

    method: str
    path: str
    params: type[EndpointParams]
    handler: Handler[Any]


class ApiRouter:
    def __init__(self) -> None:
        self.routes: list[Route] = []
        self.operations: list[Operation] = []

    def get(self, path: str, params: type[P]) -> Callable[[Handler[P]], Handler[P]]:
        return self._register("GET", path, params)

    def post(self, path: str, params: type[P]) -> Callable[[Handler[P]], Handler[P]]:
        return self._register("POST", path, params)

    def delete(self, path: str, params: type[P]) -> Callable[[Handler[P]], Handler[P]]:
        return self._register("DELETE", path, params)

    def _register(
        self, method: str, path: str, params: type[P]
    ) -> Callable[[Handler[P]], Handler[P]]:
        def decorator(handler: Handler[P]) -> Handler[P]:
            operation = Operation(method, path, params, handler)

            async def endpoint(request: Request) -> Response:
                return await _serve(request, operation)

            endpoint.__name__ = handler.__name__
            self.routes.append(Route(path, endpoint, methods=[method], name=handler.__name__))
            self.operations.append(operation)
            return handler

        return decorator


async def _decode(request: Request, method: str) -> dict[str, Any]:
    query = decode_query(request.url.query) if request.url.query else {}
    if method != "POST":
        return query
    body = await request.body()
    if not body:
        return query
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "application/json":
        return {**query, **_decode_json(body)}
    return {**query, **decode_query(body)}


# As deep as a form's bracket keys may go (``a[b][c]…``), and longer than any integer the
# API takes (int64): what lies beyond is refused before the decoder spends time on it.
MAX_JSON_DEPTH = MAX_FORM_DEPTH
MAX_JSON_DIGITS = 100


class _NumberTooLong(ValueError):
    pass


def _bounded_int(digits: str) -> int:
    if len(digits.lstrip("-")) > MAX_JSON_DIGITS:
        raise _NumberTooLong(digits)
    return int(digits)


def _decode_json(body: bytes) -> dict[str, Any]:
    """A JSON object body, or a 400 saying what is wrong with it."""
    try:
        decoded = json.loads(body, parse_int=_bounded_int)
    except _NumberTooLong:
        raise InvalidRequest(
            f"Invalid JSON body: numbers may have at most {MAX_JSON_DIGITS} digits."
        ) from None
    except RecursionError:
        raise _too_deep(None) from None
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise InvalidRequest("Invalid JSON body.") from None
    if not isinstance(decoded, dict):
        raise InvalidRequest("The JSON body must be an object.")
    for key, value in decoded.items():
        if _depth(value) >= MAX_JSON_DEPTH:
            raise _too_deep(key)
    return decoded


def _too_deep(param: str | None) -> InvalidRequest:
    return InvalidRequest(
        f"Invalid JSON body: parameters may be nested at most {MAX_JSON_DEPTH} levels deep.",
        param=param,
    )


def _depth(value: Any) -> int:
    """How many objects or arrays are nested in ``value`` (iteratively: no recursion)."""
    deepest = 0
    pending = [(value, 0)]
    while pending:
        node, depth = pending.pop()
        if isinstance(node, dict):
            node = list(node.values())
        if isinstance(node, list):
            deepest = max(deepest, depth + 1)
            if deepest >= MAX_JSON_DEPTH:
                return deepest
            pending.extend((child, depth + 1) for child in node)
    return deepest


async def _serve(request: Request, operation: Operation) -> Response:
    method = operation.method
    runtime: Runtime = request.app.state.runtime
    request_id = request_id_of(request)
    # Until the caller is known (its platform's default version), the build's default.
    headers = {"Stripe-Version": request.headers.get("stripe-version") or LATEST_API_VERSION}
    try:
        try:
            data = await _decode(request, method)
        except FormError as error:
            raise InvalidRequest(str(error), param=error.key) from None
        except UnicodeDecodeError:
            raise InvalidRequest("The request body is not valid UTF-8.") from None
        if any("\x00" in value for value in request.path_params.values()):
            # No object has such an id, and PostgreSQL cannot even be asked about one.
            raise InvalidRequest("Invalid id: an id never contains a NUL character.", param="id")
        if request.headers.get("stripe-account"):
            raise InvalidRequest(
                "The Stripe-Account header is not supported by Relink: use the connected "
                "account's own holder parameters instead.",
                param="Stripe-Account",
            )
        response = await run_in_threadpool(
            _run,
            runtime,
            request,
            operation,
            data,
            request_id,
            headers,
        )
    except ApiError as error:
        response = error_response(error)
    except Exception as error:
        if database_unavailable(error):
            log.warning(
                "api.database_unavailable",
                request_id=request_id,
                path=request.url.path,
                error=str(error).splitlines()[0],
            )
            response = error_response(unavailable(request_id))
            response.headers.update(headers)
            return response
        log.exception("api.unhandled_error", request_id=request_id, path=request.url.path)
        response = error_response(
            ApiServerError(f"An unexpected error occurred (request {request_id}).")
        )
    response.headers.update(headers)
    return response


def _run(
    runtime: Runtime,
    request: Request,
    operation: Operation,
    data: dict[str, Any],
    request_id: str,
    headers: dict[str, str],
) -> Response:
    callers: list[Caller] = []
    try:
        return _run_in_transaction(runtime, request, operation, data, request_id, headers, callers)
    finally:
        # After the request's transaction has ended, so its own short write holds no
        # lock while a handler runs (and SQLite has one writer at a time). A mark lost to
        # a database error is harmless and must not replace the request's own answer.
        for caller in callers:
            with contextlib.suppress(SQLAlchemyError):
                record_key_use(runtime.database, caller)


def _run_in_transaction(
    runtime: Runtime,
    request: Request,
    operation: Operation,
    data: dict[str, Any],
    request_id: str,
    headers: dict[str, str],
    callers: list[Caller],
) -> Response:
    method = operation.method
    database = runtime.database
    # One session for the whole request: the key is looked up in the handler's own
    # transaction (one connection checkout, one BEGIN/COMMIT). Only a request with an
    # Idempotency-Key ends that transaction early, because its in-flight record must be
    # committed (by the gate, in its own transaction) before the handler runs.
    with database.unit_of_work() as session:
        caller = authenticate(session, request.headers.get("authorization"))
        callers.append(caller)
        headers["Stripe-Version"] = caller.default_api_version  # if the asked one is unknown
        api_version = headers["Stripe-Version"] = _api_version(request, caller)
        limiter = request.app.state.rate_limiters[caller.scope.livemode]
        wait = limiter.acquire(caller.key_id)
        if wait is not None:
            raise RateLimited(
                "Too many requests hit the API too quickly.",
                # Rounded up (and capped: a zero rate waits forever) so a client that
                # honours it is not refused again.
                headers={"Retry-After": str(max(1, math.ceil(min(wait, 86_400))))},
            )

        idempotency_key = request.headers.get("idempotency-key") if method == "POST" else None
        gate: IdempotencyGate | None = None
        if idempotency_key is not None:
            digest = _request_digest(method, request.url.path, data)
            gate = IdempotencyGate(
                database, runtime.replay_box, caller.scope, idempotency_key, digest
            )
            # Release the connection (and SQLite's write lock) before the gate's own
            # transaction; the handler's transaction begins afresh below.
            session.rollback()
            replay = gate.enter()
            if isinstance(replay, Replay):
                return json_response(
                    json.loads(replay.body), replay.status, {"Idempotent-Replayed": "true"}
                )
        try:
            body = _handle(
                session,
                caller,
                request,
                operation,
                data,
                runtime,
                request_id,
                api_version,
                idempotency_key,
            )
            text = json.dumps(body, separators=(",", ":"), ensure_ascii=False)
            if gate is not None:
                gate.record(session, 200, text)
            session.commit()
        except BaseException:
            if gate is not None:
                session.rollback()
                gate.abandon()
            raise
    return Response(text, media_type="application/json")


def _api_version(request: Request, caller: Caller) -> str:
    """The version a request is answered at: its ``Stripe-Version`` if Relink knows it
    (else a 400, in Stripe's words), or its platform's default."""
    requested = request.headers.get("stripe-version")
    if requested is None:
        return caller.default_api_version
    if not is_known_api_version(requested):
        raise InvalidRequest(f"Invalid Stripe API version: {requested}")
    return requested


def _handle(
    session: Session,
    caller: Caller,
    request: Request,
    operation: Operation,
    data: dict[str, Any],
    runtime: Runtime,
    request_id: str,
    api_version: str,
    idempotency_key: str | None,
) -> dict[str, Any]:
    params = parse(operation.params, data)
    call = ApiCall(
        session=session,
        scope=caller.scope,
        params=params,
        path=dict(request.path_params),
        runtime=runtime,
        request_id=request_id,
        api_version=api_version,
        key_id=caller.key_id,
        idempotency_key=idempotency_key,
        fetchers=request.app.state.expansions,
    )
    body = operation.handler(call)
    if params.expand:
        expansion.apply(body, params.expand, call.fetch)
    return body


def _request_digest(method: str, path: str, data: dict[str, Any]) -> str:
    canonical = json.dumps([method, path, data], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()
