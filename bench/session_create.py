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
- floor, in the same run and server: ``GET /bench/hello``, a bare route the server has
  only with ``RELINK_BENCH_HELLO=1``.

The API's per-key rate limit (100/s, Stripe's) is raised for the run: it is what is
measured here, not the limiter. Prints, per engine, the median of ``--repeat`` runs:
requests/s, the floor's requests/s, the ratio (budget >= 0.35) and p50/p99 latency
(budget p99 < 50 ms).

    python -m bench.session_create                 # 3,000 requests per run on PostgreSQL
    python -m bench.session_create --smoke         # tiny N, one run: a quick check
    python -m bench.session_create --engines sqlite --requests 1000 --json
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path
from urllib.parse import urlencode

from sqlalchemy import select

from bench._common import (
    Figure,
    check_replies,
    closed_loop,
    database,
    emit,
    http_request,
    make_runtime,
    p50_p99,
    relink_server,
)
from bench.bulk_request import seed_platform
from relink.institutions.service import register_institutions
from relink.models import Account
from relink.platforms.service import create_api_key

CONCURRENCY = 32
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


def build_requests(url: str, var_dir: Path, accounts: int, port: int) -> list[bytes]:
    """One create request per eligible account, with a live secret key of the platform."""
    runtime = make_runtime(url, var_dir)
    try:
        with runtime.database.unit_of_work() as db:
            register_institutions(db)
        scope = seed_platform(runtime, accounts)
        with runtime.database.unit_of_work() as db:
            _, key = create_api_key(db, scope.platform_id, True, name="bench")
            rows = db.execute(
                select(Account.authorization_id, Account.id)
                .where(Account.platform_id == scope.platform_id, Account.livemode.is_(True))
                .order_by(Account.id)
            ).all()
    finally:
        runtime.database.engine.dispose()
    headers = {
        "Authorization": f"Bearer {key}",
        "Content-Type": "application/x-www-form-urlencoded",
    }
    return [
        http_request(
            "POST",
            "/v1/financial_connections/sessions",
            port=port,
            headers=headers,
            body=session_body(authorization, account),
        )
        for authorization, account in rows
    ]


def bench_engine(engine: str, requests: int, repeat: int, warmup: int) -> Figure:
    rates, floor_rates, p50s, p99s, floor_p50s, floor_p99s = [], [], [], [], [], []
    with database(engine) as url, tempfile.TemporaryDirectory() as folder:
        var_dir = Path(folder)
        with relink_server(url, var_dir, **UNLIMITED) as server:
            creates = build_requests(url, var_dir, warmup + repeat * requests, server.port)
            hello = [http_request("GET", "/bench/hello", port=server.port)] * requests
            warm, creates = creates[:warmup], creates[warmup:]
            check_replies(closed_loop(server.port, hello[:warmup], CONCURRENCY)[0], 200, "hello")
            check_replies(closed_loop(server.port, warm, CONCURRENCY)[0], 200, "warm-up")
            for run in range(repeat):
                floor_replies, floor_elapsed = closed_loop(server.port, hello, CONCURRENCY)
                check_replies(floor_replies, 200, "GET /bench/hello")
                batch = creates[run * requests : (run + 1) * requests]
                replies, elapsed = closed_loop(server.port, batch, CONCURRENCY)
                check_replies(replies, 200, "POST /v1/financial_connections/sessions")
                rates.append(requests / elapsed)
                floor_rates.append(requests / floor_elapsed)
                p50, p99 = p50_p99(replies)
                floor_p50, floor_p99 = p50_p99(floor_replies)
                p50s.append(p50)
                p99s.append(p99)
                floor_p50s.append(floor_p50)
                floor_p99s.append(floor_p99)
    rate, floor_rate = statistics.median(rates), statistics.median(floor_rates)
    ratio = statistics.median(r / f for r, f in zip(rates, floor_rates, strict=True))
    metrics = {
        "p50_ms": statistics.median(p50s),
        "p99_ms": statistics.median(p99s),
        "floor_p50_ms": statistics.median(floor_p50s),
        "floor_p99_ms": statistics.median(floor_p99s),
        "concurrency": CONCURRENCY,
    }
    return Figure(
        benchmark="session create API",
        variant=engine,
        n=requests,
        unit="req/s",
        value=rate,
        floor=floor_rate,
        ratio=ratio,
        metrics=metrics,
        runs=rates,
        line=(
            f"session create API [{engine}] N={requests:,} c={CONCURRENCY}: {rate:,.0f} req/s | "
            f"floor {floor_rate:,.0f} req/s | ratio {ratio:.2f} | "
            f"p50 {metrics['p50_ms']:.1f} ms p99 {metrics['p99_ms']:.1f} ms | "
            f"floor p50 {metrics['floor_p50_ms']:.1f} ms p99 {metrics['floor_p99_ms']:.1f} ms"
        ),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000, help="requests per run")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--engines", default="postgresql")
    parser.add_argument("--smoke", action="store_true", help="tiny N, one run: a quick check")
    parser.add_argument("--json", action="store_true", help="one JSON object per figure")
    args = parser.parse_args(argv)
    requests, repeat, warmup = (64, 1, 32) if args.smoke else (args.requests, args.repeat, 256)
    for engine in [e.strip() for e in args.engines.split(",") if e.strip()]:
        emit([bench_engine(engine, requests, repeat, warmup)], as_json=args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
