"""Benchmark: hosted landing (spec 60 "hosted landing").

Builds its own data: a live-mode platform with eligible accounts and one pending hosted
relink session each, made by the real bulk request; each session's link token is derived
as the server derives it (same secret). Then starts ONE server process (``relink serve
--no-worker`` over a fresh PostgreSQL or SQLite database) and sends ``GET
/relink/{token}`` at a fixed rate (default 200 requests/s for 10 s) in an open loop: each
request leaves at its scheduled time whether or not earlier ones were answered, and its
latency counts from that time. Every request opens a distinct link, as its holder would,
from its own client address (``X-Forwarded-For``, which the server trusts from
127.0.0.1, as behind a load balancer), so the hosted throttles (per link and per IP) see
what they would see in production.

The budget is absolute (p99 < 25 ms); for scale, the same run sends ``GET /bench/hello``
(the server's bare floor, ``RELINK_BENCH_HELLO=1``) at the same rate, and the ratio is the
floor's p99 over the real p99. Prints, per engine, the median of ``--repeat`` runs.

    python -m bench.hosted_landing                 # 200 req/s for 10 s on PostgreSQL
    python -m bench.hosted_landing --smoke         # half a second, one run
    python -m bench.hosted_landing --engines sqlite --rate 100 --seconds 5 --json
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

from sqlalchemy import select

from bench._book import ACTOR, seed_platform
from bench._common import (
    Figure,
    check_replies,
    database,
    emit,
    http_request,
    make_runtime,
    open_loop,
    p50_p99,
    relink_server,
)
from relink.bulk_requests.service import request_relinks
from relink.institutions.service import register_institutions
from relink.models import Account, Session


def client_address(index: int) -> str:
    """A distinct documentation-range-like private address per holder."""
    return f"10.{(index >> 16) & 255}.{(index >> 8) & 255}.{index & 255}"


def landing_requests(url: str, var_dir: Path, links: int, port: int) -> list[bytes]:
    """One ``GET /relink/{token}`` per pending hosted relink session, each from its own IP."""
    runtime = make_runtime(url, var_dir)
    try:
        with runtime.database.unit_of_work() as db:
            register_institutions(db)
        scope = seed_platform(runtime, links)
        selection = select(Account).where(
            Account.platform_id == scope.platform_id, Account.livemode.is_(True)
        )
        with runtime.database.unit_of_work() as db:
            result = request_relinks(db, scope, runtime, selection, actor=ACTOR)
        if result.created != links:
            raise SystemExit(f"expected {links} sessions, created {result.created}: {result}")
        with runtime.database.read_only() as db:
            session_ids = list(
                db.scalars(
                    select(Session.id)
                    .where(Session.platform_id == scope.platform_id, Session.livemode.is_(True))
                    .order_by(Session.id)
                )
            )
        tokens = [runtime.link_token(session_id) for session_id in session_ids]
    finally:
        runtime.database.engine.dispose()
    return [
        http_request(
            "GET",
            f"/relink/{token}",
            port=port,
            headers={"X-Forwarded-For": client_address(index), "Accept-Language": "en"},
        )
        for index, token in enumerate(tokens)
    ]


def bench_engine(engine: str, rate: float, seconds: float, repeat: int) -> Figure:
    per_run = max(1, round(rate * seconds))
    warmup = min(per_run, 50)
    p50s, p99s, floor_p50s, floor_p99s, achieved = [], [], [], [], []
    with database(engine) as url, tempfile.TemporaryDirectory() as folder:
        var_dir = Path(folder)
        with relink_server(url, var_dir) as server:
            landings = landing_requests(url, var_dir, warmup + repeat * per_run, server.port)
            hello = [http_request("GET", "/bench/hello", port=server.port)] * per_run
            check_replies(open_loop(server.port, landings[:warmup], rate)[0], 200, "warm-up")
            landings = landings[warmup:]
            for run in range(repeat):
                floor_replies, _ = open_loop(server.port, hello, rate)
                check_replies(floor_replies, 200, "GET /bench/hello")
                batch = landings[run * per_run : (run + 1) * per_run]
                replies, sent_rate = open_loop(server.port, batch, rate)
                check_replies(replies, 200, "GET /relink/{token}")
                p50, p99 = p50_p99(replies)
                floor_p50, floor_p99 = p50_p99(floor_replies)
                p50s.append(p50)
                p99s.append(p99)
                floor_p50s.append(floor_p50)
                floor_p99s.append(floor_p99)
                achieved.append(sent_rate)
    p50, p99 = statistics.median(p50s), statistics.median(p99s)
    floor_p50, floor_p99 = statistics.median(floor_p50s), statistics.median(floor_p99s)
    ratio = floor_p99 / p99 if p99 else 1.0
    return Figure(
        benchmark="hosted landing",
        variant=engine,
        n=per_run,
        unit="ms p99",
        value=p99,
        floor=floor_p99,
        ratio=ratio,
        metrics={
            "p50_ms": p50,
            "p99_ms": p99,
            "floor_p50_ms": floor_p50,
            "floor_p99_ms": floor_p99,
            "rate": rate,
            # Requests over the time to the last answer: below ``rate`` when the server
            # could not keep up.
            "answered_rate": statistics.median(achieved),
        },
        runs=p99s,
        line=(
            f"hosted landing [{engine}] N={per_run:,} at {rate:,.0f} req/s: "
            f"p50 {p50:.1f} ms p99 {p99:.1f} ms | floor p50 {floor_p50:.1f} ms "
            f"p99 {floor_p99:.1f} ms | ratio {ratio:.2f} | "
            f"answered {statistics.median(achieved):,.0f} req/s"
        ),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rate", type=float, default=200.0, help="requests per second")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of a run")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--engines", default="postgresql")
    parser.add_argument("--smoke", action="store_true", help="half a second, one run")
    parser.add_argument("--json", action="store_true", help="one JSON object per figure")
    args = parser.parse_args(argv)
    seconds, repeat = (0.5, 1) if args.smoke else (args.seconds, args.repeat)
    for engine in [e.strip() for e in args.engines.split(",") if e.strip()]:
        emit([bench_engine(engine, args.rate, seconds, repeat)], as_json=args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
