"""Benchmark: the web side while the worker works (issue 16, "the web side while the
worker works").

Builds its own data on a fresh PostgreSQL database: pending hosted relink sessions to
land on (as ``bench.hosted_landing``), and before each run a bulk request of ``--emails``
queued relink emails. Then ONE ``relink serve --no-worker`` and, for each run, ONE
``relink worker`` as deployed (its defaults, the same machine, the same database) sending
to an SMTP server of the benchmark's own.

Each run: the worker starts on the queued emails; once the first has arrived, hosted
landings (``GET /relink/{token}``, every one a distinct link from its own address) go at a
fixed rate (default 60 requests/s) in an open loop for ``--seconds``, while the drain runs.
The run counts only if the drain was still going when the load stopped (emails were still
queued). The floor, in the same run and on the same server: the same landings at the same
rate with no worker running. Budget: landing p99 < 100 ms while a drain runs.

    python -m bench.web_during_drain                # 3,000 emails, 60 req/s for 5 s, 3 runs
    python -m bench.web_during_drain --smoke        # 300 emails, one short run
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import func, select

from bench._common import (
    BENCH_SECRET_KEY,
    HOST,
    Figure,
    check_replies,
    database,
    emit,
    make_runtime,
    open_loop,
    p50_p99,
    relink_command,
    relink_server,
)
from bench.email_delivery import SmtpServer, queue_emails, smtp_server
from bench.hosted_landing import landing_requests
from relink.models import OutboxMessage, OutboxStatus
from relink.runtime import Runtime

# The landing load during a drain (the rate the issue measured the stall at).
DEFAULT_RATE = 60.0


def start_worker(
    url: str, var_dir: Path, smtp_port: int, public_url: str
) -> subprocess.Popen[bytes]:
    """``relink worker`` as deployed: its own defaults, sending to the benchmark's SMTP server."""
    env = {
        **os.environ,
        "RELINK_ENV": "development",
        "RELINK_DATABASE_URL": url,
        "RELINK_SECRET_KEY": BENCH_SECRET_KEY,
        "RELINK_VAR_DIR": str(var_dir),
        "RELINK_PUBLIC_URL": public_url,
        "RELINK_EMAIL_BACKEND": "smtp",
        "RELINK_SMTP_HOST": HOST,
        "RELINK_SMTP_PORT": str(smtp_port),
        "RELINK_SMTP_SECURITY": "none",
    }
    with (var_dir / "worker.log").open("ab") as log:
        return subprocess.Popen(
            [*relink_command(), "worker"],
            cwd=var_dir,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )


def stop(worker: subprocess.Popen[bytes]) -> None:
    worker.terminate()
    try:
        worker.wait(timeout=30)
    except subprocess.TimeoutExpired:
        worker.kill()
        worker.wait()


def queued_emails(runtime: Runtime) -> int:
    with runtime.database.read_only() as db:
        return (
            db.scalar(
                select(func.count())
                .select_from(OutboxMessage)
                .where(OutboxMessage.status == OutboxStatus.pending)
            )
            or 0
        )


def wait_for_first_email(smtp: SmtpServer, worker: subprocess.Popen[bytes]) -> int:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if worker.poll() is not None:
            raise SystemExit(f"relink worker exited early (code {worker.returncode})")
        arrived = len(smtp.take())
        if arrived:
            return arrived
        time.sleep(0.05)
    raise SystemExit("no email arrived within two minutes of the worker's start")


def wait_for_drain(runtime: Runtime, smtp: SmtpServer, expected: int, arrived: int) -> int:
    deadline = time.monotonic() + 600
    while arrived < expected and time.monotonic() < deadline:
        time.sleep(0.2)
        arrived += len(smtp.take())
    if arrived < expected:
        raise SystemExit(f"the drain stopped short: {arrived} of {expected} emails arrived")
    return arrived


def bench(emails: int, rate: float, seconds: float, repeat: int) -> Figure:
    per_run = max(1, round(rate * seconds))
    warmup = min(per_run, 50)
    p50s, p99s, floor_p50s, floor_p99s, drain_rates, covered = [], [], [], [], [], []
    with (
        database("postgresql", suffix="drain") as url,
        tempfile.TemporaryDirectory() as folder,
        smtp_server() as smtp,
    ):
        var_dir = Path(folder)
        runtime = make_runtime(url, var_dir / "setup")
        with relink_server(url, var_dir) as server:
            landings = landing_requests(url, var_dir, warmup + 2 * repeat * per_run, server.port)
            check_replies(open_loop(server.port, landings[:warmup], rate)[0], 200, "warm-up")
            landings = landings[warmup:]
            # The landing sessions' own emails are not part of any run's drain: sent first.
            backlog = queued_emails(runtime)
            worker = start_worker(url, var_dir, smtp.port, server.url)
            try:
                wait_for_drain(runtime, smtp, backlog, 0)
            finally:
                stop(worker)
            for run in range(repeat):
                floor_batch = landings[2 * run * per_run : (2 * run + 1) * per_run]
                batch = landings[(2 * run + 1) * per_run : (2 * run + 2) * per_run]
                floor_replies, _ = open_loop(server.port, floor_batch, rate)
                check_replies(floor_replies, 200, "GET /relink/{token} without a drain")
                queue_emails(runtime, emails)
                worker = start_worker(url, var_dir, smtp.port, server.url)
                try:
                    arrived = wait_for_first_email(smtp, worker)
                    started = time.monotonic()
                    replies, _ = open_loop(server.port, batch, rate)
                    covered.append(queued_emails(runtime) > 0)
                    wait_for_drain(runtime, smtp, emails, arrived)
                    drain_rates.append((emails - arrived) / (time.monotonic() - started))
                finally:
                    stop(worker)
                check_replies(replies, 200, "GET /relink/{token} during a drain")
                p50, p99 = p50_p99(replies)
                floor_p50, floor_p99 = p50_p99(floor_replies)
                p50s.append(p50)
                p99s.append(p99)
                floor_p50s.append(floor_p50)
                floor_p99s.append(floor_p99)
        runtime.database.engine.dispose()
    p50, p99 = statistics.median(p50s), statistics.median(p99s)
    floor_p50, floor_p99 = statistics.median(floor_p50s), statistics.median(floor_p99s)
    drain_rate = statistics.median(drain_rates)
    return Figure(
        benchmark="web during drain",
        variant="postgresql",
        n=per_run,
        unit="ms p99",
        value=p99,
        floor=floor_p99,
        ratio=floor_p99 / p99 if p99 else 1.0,
        metrics={
            "p50_ms": p50,
            "p99_ms": p99,
            "floor_p50_ms": floor_p50,
            "floor_p99_ms": floor_p99,
            "rate": rate,
            "emails": emails,
            "drain_emails_per_s": drain_rate,
            # Every run's load ended before its drain did: the load met a working worker.
            "drain_covered_load": all(covered),
        },
        runs=p99s,
        line=(
            f"web during drain [postgresql] {per_run:,} landings at {rate:,.0f} req/s while "
            f"{emails:,} emails drain: p50 {p50:.1f} ms p99 {p99:.1f} ms | no drain: p50 "
            f"{floor_p50:.1f} ms p99 {floor_p99:.1f} ms | drain {drain_rate:,.0f} emails/s | "
            f"load inside the drain: {'yes' if all(covered) else 'NO'}"
        ),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--emails", type=int, default=3_000)
    parser.add_argument("--rate", type=float, default=DEFAULT_RATE, help="landings per second")
    parser.add_argument("--seconds", type=float, default=5.0, help="length of a run's load")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--smoke", action="store_true", help="300 emails, one short run")
    parser.add_argument("--json", action="store_true", help="one JSON object per figure")
    args = parser.parse_args(argv)
    if args.smoke:
        figure = bench(300, args.rate, 0.5, 1)
    else:
        figure = bench(args.emails, args.rate, args.seconds, args.repeat)
    emit([figure], as_json=args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
