"""Benchmark: session create API (spec 60 "session create API").

Builds its own data: a live-mode platform with eligible accounts (inactive, relink
required) and a live secret key. Then starts ONE server process (``relink serve
--no-worker`` on a free port, over a fresh PostgreSQL or SQLite database) and drives it
from this process with 32 concurrent keep-alive HTTP/1.1 clients (a small asyncio load
generator, so the client spends microseconds per request and leaves the CPU to the
server):

- real path: ``POST /v1/financial_connections/sessions`` form-encoded, a hosted relink
  session delivered by url, each request for a distinct eligible account (auth, rate
  limit, idempotency, validation, eligibility, insert, event, render);
- floor, in the same run and server: the work's own floor, ``POST /bench/replay``
  (:mod:`relink.web.bench_floor`, only with ``RELINK_BENCH_HELLO=1``): the very SQL
  statements one real create issued (recorded once, before the clock, with SQLAlchemy's
  ``before_cursor_execute``), issued again by plain psycopg in one transaction per request,
  each for its own account, with fresh ids and digests.

Two measurements per run:

- closed loop, 32 clients: the real path's requests/s over the floor's (budget >= 0.6);
- open loop at a fixed rate (default 200 requests/s, each request leaving at its time
  whether or not earlier ones were answered): the real path's p99 (budget < 50 ms), with
  the floor's p99 at the same rate beside it.

The API's per-key rate limit (100/s, Stripe's) is raised for the run: it is what is
measured here, not the limiter. Prints, per engine, the median of ``--repeat`` runs.

    python -m bench.session_create                 # 3,000 requests per run on PostgreSQL
    python -m bench.session_create --smoke         # tiny N, one run: a quick check
    python -m bench.session_create --engines sqlite --requests 1000 --json
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import sys
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
from psycopg.types.json import Json, Jsonb
from sqlalchemy import event, select

from bench._book import seed_platform
from bench._common import (
    Figure,
    check_replies,
    closed_loop,
    database,
    emit,
    http_request,
    make_runtime,
    open_loop,
    p50_p99,
    relink_server,
)
from relink.app import create_app

with warnings.catch_warnings():  # its notice about httpx, not ours to act on
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient
from relink.institutions.service import register_institutions
from relink.models import Account
from relink.platforms.service import create_api_key

CONCURRENCY = 32
FORM = "application/x-www-form-urlencoded"
UNLIMITED = {"RELINK_RATE_LIMIT_LIVE_PER_SECOND": "1000000", "RELINK_RATE_LIMIT_BURST": "1000000"}


def session_body(authorization_id: str, account_id: str) -> bytes:
    return urlencode(
        {
            "relink_options[authorization]": authorization_id,
            "relink_options[account]": account_id,
            "ui_mode": "hosted",
            "hosted[delivery_method]": "url",
            "permissions[0]": "payment_method",
        }
    ).encode()


@dataclass
class Book:
    """What the runs send: one create per eligible account, and the recorded statements."""

    key: str
    accounts: list[tuple[str, str]]  # (authorization id, account id)
    statements: list[tuple[str, dict[str, Any]]]
    recorded: tuple[str, str]  # the (authorization, account) of the recorded create


def _wire(value: Any) -> Any:
    """A bound parameter as JSON carries it; the statements cast every one of them."""
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, Json | Jsonb):  # psycopg's JSON wrappers
        return json.dumps(value.obj)
    return value


def build_book(url: str, var_dir: Path, accounts: int) -> Book:
    """``accounts`` + 1 eligible accounts and a live secret key; one real create made in
    this process (the same code as the server's) with its SQL recorded."""
    runtime = make_runtime(url, var_dir / "record", in_process_worker=False)
    try:
        with runtime.database.unit_of_work() as db:
            register_institutions(db)
        scope = seed_platform(runtime, accounts + 1)
        with runtime.database.unit_of_work() as db:
            _, key = create_api_key(db, scope.platform_id, True, name="bench")
            rows = [
                (authorization, account)
                for authorization, account in db.execute(
                    select(Account.authorization_id, Account.id)
                    .where(Account.platform_id == scope.platform_id, Account.livemode.is_(True))
                    .order_by(Account.id)
                )
            ]
        recorded = rows.pop()
        statements: list[tuple[str, dict[str, Any]]] = []

        def record(_c: Any, _cursor: Any, sql: str, params: Any, _ctx: Any, _many: bool) -> None:
            statements.append((sql, {k: _wire(v) for k, v in dict(params or {}).items()}))

        with TestClient(create_app(runtime=runtime)) as client:
            event.listen(runtime.database.engine, "before_cursor_execute", record)
            reply = client.post(
                "/v1/financial_connections/sessions",
                headers={"Authorization": f"Bearer {key}", "Content-Type": FORM},
                content=session_body(*recorded),
            )
            event.remove(runtime.database.engine, "before_cursor_execute", record)
        if reply.status_code != 200:
            raise SystemExit(f"the recorded create answered {reply.status_code}: {reply.text}")
    finally:
        runtime.database.engine.dispose()
    return Book(key, rows, statements, recorded)


def create_requests(book: Book, port: int, path: str) -> list[bytes]:
    headers = {"Authorization": f"Bearer {book.key}", "Content-Type": FORM}
    return [
        http_request("POST", path, port=port, headers=headers, body=session_body(*account))
        for account in book.accounts
    ]


def register_floor(server_url: str, book: Book) -> None:
    authorization, account = book.recorded
    reply = httpx.put(
        server_url + "/bench/replay",
        json={
            "statements": book.statements,
            "substitutions": {
                "relink_options[authorization]": authorization,
                "relink_options[account]": account,
            },
        },
        timeout=30,
    )
    reply.raise_for_status()


def bench_engine(
    engine: str, requests: int, repeat: int, warmup: int, rate: float, seconds: float
) -> Figure:
    if engine != "postgresql":
        raise SystemExit("the session create floor is plain psycopg: PostgreSQL only")
    per_open = max(1, round(rate * seconds))
    runs: dict[str, list[float]] = {
        name: []
        for name in (
            "rate",
            "floor_rate",
            "p50",
            "p99",
            "floor_p50",
            "floor_p99",
            "open_p50",
            "open_p99",
            "open_floor_p50",
            "open_floor_p99",
        )
    }
    with database(engine) as url, tempfile.TemporaryDirectory() as folder:
        var_dir = Path(folder)
        # Each run's real and floor requests have accounts of their own (one pending
        # hosted session per account holds for both).
        per_run = 2 * requests + 2 * per_open
        book = build_book(url, var_dir, 2 * warmup + repeat * per_run)
        with relink_server(url, var_dir, **UNLIMITED) as server:
            register_floor(server.url, book)
            real = create_requests(book, server.port, "/v1/financial_connections/sessions")
            floor = create_requests(book, server.port, "/bench/replay")
            check_replies(
                closed_loop(server.port, floor[:warmup], CONCURRENCY)[0], 200, "floor warm-up"
            )
            check_replies(
                closed_loop(server.port, real[warmup : 2 * warmup], CONCURRENCY)[0], 200, "warm-up"
            )
            at = 2 * warmup

            def take(source: list[bytes], count: int) -> list[bytes]:
                nonlocal at
                taken = source[at : at + count]
                at += count
                return taken

            for _ in range(repeat):
                floor_replies, floor_elapsed = closed_loop(
                    server.port, take(floor, requests), CONCURRENCY
                )
                check_replies(floor_replies, 200, "POST /bench/replay")
                replies, elapsed = closed_loop(server.port, take(real, requests), CONCURRENCY)
                check_replies(replies, 200, "POST /v1/financial_connections/sessions")
                open_floor, _ = open_loop(server.port, take(floor, per_open), rate)
                check_replies(open_floor, 200, "POST /bench/replay, open loop")
                open_real, _ = open_loop(server.port, take(real, per_open), rate)
                check_replies(open_real, 200, "POST /v1/financial_connections/sessions, open loop")
                runs["rate"].append(requests / elapsed)
                runs["floor_rate"].append(requests / floor_elapsed)
                for prefix, measured in (
                    ("", replies),
                    ("floor_", floor_replies),
                    ("open_", open_real),
                    ("open_floor_", open_floor),
                ):
                    p50, p99 = p50_p99(measured)
                    runs[f"{prefix}p50"].append(p50)
                    runs[f"{prefix}p99"].append(p99)
    median = {name: statistics.median(values) for name, values in runs.items()}
    ratio = statistics.median(r / f for r, f in zip(runs["rate"], runs["floor_rate"], strict=True))
    metrics = {
        "p50_ms": median["p50"],
        "p99_ms": median["p99"],
        "floor_p50_ms": median["floor_p50"],
        "floor_p99_ms": median["floor_p99"],
        "concurrency": CONCURRENCY,
        "open_rate": rate,
        "open_p50_ms": median["open_p50"],
        "open_p99_ms": median["open_p99"],
        "open_floor_p50_ms": median["open_floor_p50"],
        "open_floor_p99_ms": median["open_floor_p99"],
        "statements": len(book.statements),
    }
    return Figure(
        benchmark="session create API",
        variant=engine,
        n=requests,
        unit="req/s",
        value=median["rate"],
        floor=median["floor_rate"],
        ratio=ratio,
        metrics=metrics,
        runs=runs["rate"],
        line=(
            f"session create API [{engine}] N={requests:,} c={CONCURRENCY}: "
            f"{median['rate']:,.0f} req/s | floor (the same {len(book.statements)} statements "
            f"by psycopg) {median['floor_rate']:,.0f} req/s | ratio {ratio:.2f} | "
            f"open loop at {rate:,.0f} req/s: p50 {median['open_p50']:.1f} ms p99 "
            f"{median['open_p99']:.1f} ms (floor p99 {median['open_floor_p99']:.1f} ms)"
        ),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000, help="requests per run")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--engines", default="postgresql")
    parser.add_argument("--rate", type=float, default=200.0, help="open loop: requests/s")
    parser.add_argument("--seconds", type=float, default=10.0, help="open loop: length of a run")
    parser.add_argument("--smoke", action="store_true", help="tiny N, one run: a quick check")
    parser.add_argument("--json", action="store_true", help="one JSON object per figure")
    args = parser.parse_args(argv)
    requests, repeat, warmup = (64, 1, 32) if args.smoke else (args.requests, args.repeat, 256)
    seconds = 0.5 if args.smoke else args.seconds
    for engine in [e.strip() for e in args.engines.split(",") if e.strip()]:
        emit(
            [bench_engine(engine, requests, repeat, warmup, args.rate, seconds)], as_json=args.json
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
