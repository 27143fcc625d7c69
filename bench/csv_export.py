"""Benchmark: the Accounts list's CSV export of 1,000,000 accounts (issue 15, CSV export).

Builds its own data on a fresh PostgreSQL database: the demo platform's sandbox book grown
to N accounts (default 1,000,000, :func:`relink.demo.ensure_demo_book`, as ``relink demo
--accounts N``), then ``ANALYZE``. Then, through a real ``relink serve`` signed in as the
demo owner, ``GET /accounts/export.csv`` (no filter: every account) read as a stream and
counted line by line, while the server's resident memory is sampled.

Figures: rows per second, and the server's memory while it streams (its peak resident
set, ``VmHWM``, before and after; growth is what the export cost, and must not grow with
N). Floor, in the same run: PostgreSQL's own ``COPY (SELECT …) TO STDOUT (FORMAT csv)``
of the scope's accounts, newest first, with the plain account columns (no holder, bank or
eligibility), read by psycopg: what the database alone does for the same rows.

    python -m bench.csv_export              # N=1,000,000
    python -m bench.csv_export --smoke      # N=10,000, one run
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psycopg
from psycopg import sql

from bench._common import (
    Figure,
    database,
    emit,
    log_to_file,
    make_runtime,
    relink_server,
    signed_in,
)
from bench.eligibility_filter import analyze, build_book
from relink.demo import DEMO_OWNER_EMAIL, DEMO_PASSWORD


def peak_rss_mb(pid: int) -> float:
    """The process's peak resident set (``VmHWM``) in MB."""
    status = Path(f"/proc/{pid}/status").read_text()
    found = re.search(r"^VmHWM:\s+(\d+) kB", status, re.MULTILINE)
    return int(found.group(1)) / 1024 if found else 0.0


def export_once(client: httpx.Client) -> tuple[float, int]:
    """Seconds to stream the whole export, and its data rows."""
    started = time.perf_counter()
    lines = 0
    with client.stream("GET", "/accounts/export.csv") as response:
        if response.status_code != 200:
            raise SystemExit(f"the export answered {response.status_code}")
        for _ in response.iter_lines():
            lines += 1
    return time.perf_counter() - started, lines - 1  # less the header


def copy_floor(url: str, platform_id: str) -> tuple[float, int]:
    """Seconds for PostgreSQL to COPY the scope's accounts as CSV, and the rows."""
    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    statement = sql.SQL(
        "COPY (SELECT id, display_name, last4, institution_id, status, inactive_cause, "
        "expected_deactivation_at, customer_id, created_at FROM accounts "
        "WHERE platform_id = {} AND livemode = false ORDER BY id DESC) "
        "TO STDOUT (FORMAT csv, HEADER)"
    ).format(sql.Literal(platform_id))
    started = time.perf_counter()
    lines = 0
    with (
        psycopg.connect(dsn) as connection,
        connection.cursor() as cursor,
        cursor.copy(statement) as copy,
    ):
        for block in copy:
            lines += bytes(block).count(b"\n")
    return time.perf_counter() - started, lines - 1


def bench(accounts: int, repeat: int) -> list[Figure]:
    with database("postgresql") as url, tempfile.TemporaryDirectory() as folder:
        runtime = make_runtime(url, Path(folder))
        try:
            scope = build_book(runtime, accounts)
            analyze(runtime)
        finally:
            runtime.database.engine.dispose()
        floors = [copy_floor(url, scope.platform_id) for _ in range(repeat)]
        with relink_server(url, Path(folder)) as server:
            client = signed_in(server.url, DEMO_OWNER_EMAIL, DEMO_PASSWORD, timeout=600)
            client.get("/accounts")  # warm: templates, pools
            before = peak_rss_mb(server.process.pid)
            runs = [export_once(client) for _ in range(repeat)]
            after = peak_rss_mb(server.process.pid)
            client.close()
    seconds = statistics.median(run for run, _ in runs)
    rows = runs[-1][1]
    floor_seconds = statistics.median(run for run, _ in floors)
    rate, floor_rate = rows / seconds, floors[-1][1] / floor_seconds
    ratio = rate / floor_rate if floor_rate else 1.0
    growth = after - before
    line = (
        f"csv export [postgresql] N={accounts:,}: {rate:,.0f} rows/s | "
        f"floor {floor_rate:,.0f} rows/s | ratio {ratio:.3f} | {rows:,} rows | "
        f"server peak RSS {before:,.0f} MB before, {after:,.0f} MB after (+{growth:,.0f} MB)"
    )
    return [
        Figure(
            benchmark="csv export",
            variant="postgresql",
            n=accounts,
            unit="rows/s",
            value=rate,
            floor=floor_rate,
            ratio=ratio,
            metrics={
                "rows": rows,
                "peak_rss_before_mb": round(before, 1),
                "peak_rss_after_mb": round(after, 1),
                "peak_rss_growth_mb": round(growth, 1),
            },
            runs=[rows / run for run, _ in runs],
            line=line,
        )
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--accounts", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--smoke", action="store_true", help="N=10,000, one run")
    parser.add_argument("--json", action="store_true", help="one JSON object per figure")
    args = parser.parse_args(argv)
    accounts, repeat = (10_000, 1) if args.smoke else (args.accounts, args.repeat)
    with tempfile.TemporaryDirectory() as logs:
        log = log_to_file(Path(logs) / "relink.log")
        try:
            emit(bench(accounts, repeat), as_json=args.json)
        finally:
            log.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
