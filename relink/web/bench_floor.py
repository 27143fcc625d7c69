"""The benchmarks' floors inside the server (``RELINK_BENCH_HELLO=1``, bench/ only; off by
default, never in production).

- ``GET /bench/hello``: the bare minimum this server does for a request.
- ``PUT /bench/replay``: register a list of SQL statements with their parameters, as one
  request of a real path issued them (recorded by the benchmark with SQLAlchemy's
  ``before_cursor_execute``);
- ``POST /bench/replay``: issue exactly those statements with plain psycopg on a pooled
  connection, in one transaction, as a sync route in the same thread pool as the API's,
  with fresh ids and digests for what the statements insert, and the request's own form
  values where the recording had its own (the account a session is for). That is the
  work's own floor: the same round trips and rows, without the application around them.
"""

from __future__ import annotations

import secrets
import threading
from typing import Any
from urllib.parse import parse_qs

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from relink.kit import ids
from relink.runtime import Runtime


class Replay:
    """The registered statements, and which of their values each run makes anew."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.statements: list[tuple[str, dict[str, Any]]] = []
        # Values the statements insert that must be unique: ids (and every reference to
        # them in later statements) and digests.
        self.fresh: dict[str, str] = {}
        # Form field -> the value the recording had for it.
        self.substitutions: dict[str, str] = {}

    def register(
        self, statements: list[tuple[str, dict[str, Any]]], substitutions: dict[str, str]
    ) -> None:
        fresh: dict[str, str] = {}
        for sql, params in statements:
            if not sql.lstrip().upper().startswith("INSERT"):
                continue
            for name, value in params.items():
                if not isinstance(value, str):
                    continue
                if name == "id" and "_" in value:
                    fresh[value] = value.split("_", 1)[0]
                elif "digest" in name:
                    fresh[value] = ""
        with self.lock:
            self.statements, self.fresh = statements, fresh
            self.substitutions = substitutions

    def run_params(self, form: dict[str, list[str]]) -> list[tuple[str, dict[str, Any]]]:
        with self.lock:
            statements, fresh, substitutions = self.statements, self.fresh, self.substitutions
        new = {
            old: ids.new(prefix) if prefix else secrets.token_hex(len(old) // 2)
            for old, prefix in fresh.items()
        }
        for field, recorded in substitutions.items():
            if form.get(field):
                new[recorded] = form[field][0]
        return [
            (sql, {k: new.get(v, v) if isinstance(v, str) else v for k, v in params.items()})
            for sql, params in statements
        ]


def install_bench_floors(app: FastAPI, runtime: Runtime) -> None:
    replay = Replay()

    @app.get("/bench/hello", include_in_schema=False)
    async def bench_hello() -> Response:
        return PlainTextResponse("hello")

    @app.put("/bench/replay", include_in_schema=False)
    async def bench_register(request: Request) -> Response:
        body = await request.json()
        replay.register(
            [(str(sql), dict(params)) for sql, params in body["statements"]],
            {str(k): str(v) for k, v in body.get("substitutions", {}).items()},
        )
        return PlainTextResponse(f"{len(replay.statements)} statements")

    @app.post("/bench/replay", include_in_schema=False)
    async def bench_replay(request: Request) -> Response:
        # Read and parsed as the API reads its form; the work on the thread pool, as the
        # API's sync handlers run.
        form = parse_qs((await request.body()).decode())
        return await run_in_threadpool(issue, replay.run_params(form))

    def issue(statements: list[tuple[str, dict[str, Any]]]) -> Response:
        connection = runtime.database.engine.raw_connection()
        try:
            cursor = connection.cursor()
            for sql, params in statements:
                cursor.execute(sql, params)
                if cursor.description is not None:
                    cursor.fetchall()
            cursor.close()
            connection.commit()
        except BaseException:
            connection.rollback()
            raise
        finally:
            connection.close()  # back to the pool
        return PlainTextResponse("ok")
