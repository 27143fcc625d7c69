"""Benchmark: the outreach report page over 1,000,000 accounts' history (issue 13, item 5).

Builds its own data on a fresh PostgreSQL database: the demo platform's sandbox book grown
to N accounts (default 1,000,000, :func:`relink.demo.ensure_demo_book`, as
``relink demo --accounts N``), then a year of hosted relink history for it, written
set-based (``INSERT … SELECT``): one email request per account, spread over the last
365 days, each with the timeline the flow would have written (requested, email sent, a
reminder for some, viewed, opened, authenticated, repaired, data refreshed, stopping
where the request stopped). Then the worker's rollup scan runs until the whole history
is covered (:func:`relink.sessions.rollup.refresh_scope`, timed: the first backfill, and
one steady refresh as the worker does every five minutes), and ``ANALYZE``.

Times, through a real ``relink serve`` as a signed-in owner sees it (``GET`` of the
whole page, sequentially, after one warm-up each):

- ``30 days by day``: the report as it opens (the last 30 days, one point a day);
- ``year by week``: the last 365 days, one point a week (the largest period a user picks
  in practice: every rollup row of the year);

against the floor, in the same run and on the same server: the same page of a platform
with no history (same sign-in, template, charts and queries, nothing to add up).
Budget: the dashboard's, a page < 200 ms.

    python -m bench.outreach_report              # N=1,000,000
    python -m bench.outreach_report --smoke      # N=3,000, one run
    python -m bench.outreach_report --accounts 200000 --json
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
from sqlalchemy import func, select, text

from bench._common import (
    Figure,
    database,
    emit,
    log_to_file,
    make_runtime,
    ms,
    percentile,
    relink_server,
    signed_in,
)
from bench.eligibility_filter import analyze, build_book
from relink.demo import DEMO_OWNER_EMAIL, DEMO_PASSWORD
from relink.models import Session
from relink.platforms.service import create_platform
from relink.runtime import Runtime
from relink.sessions.rollup import refresh_scope
from relink.tenancy import Scope, in_scope

HISTORY_DAYS = 365
EMPTY_OWNER = "owner@empty.relink.test"
# The funnel a request went through, by how far it got (a hash of its account picks it):
# every request was made and emailed; some were reminded, fewer viewed, and so on.
TIMELINE = (
    ("created", 0),
    ("email_sent", 0),
    ("reminder_sent", 9),  # depth ≥ 9 of 0–9: one in ten got a reminder
    ("viewed", 2),
    ("opened", 3),
    ("authenticated", 4),
    ("succeeded", 5),
    ("data_refreshed", 6),
)
REASONS = ("access_expired", "access_denied", "account_number_expiring", "credentials_changed")


def seed_history(runtime: Runtime, scope: Scope) -> int:
    """One hosted email request per account of ``scope`` over the last year, with its
    timeline; the number of timeline rows written."""
    now = scope.now()
    # depth 0–9 from the account's id: 0–1 stop after the email, 5+ are repaired.
    depth = "(abs(hashtext(a.id)::bigint) % 10)"
    with runtime.database.unit_of_work() as db:
        # Millions of rows in two statements: longer than a request may take.
        db.execute(text("SET LOCAL statement_timeout = 0"))
        db.execute(
            text(
                f"""
                INSERT INTO sessions (
                    id, platform_id, livemode, holder_type, customer_id,
                    client_secret_digest, permissions, prefetch, collected_account_ids,
                    ui_mode, delivery_method, relink_authorization_id, relink_account_id,
                    status, relink_reason, created_by, created_at, updated_at, finished_at
                )
                SELECT
                    'fcsess_h' || a.id, a.platform_id, a.livemode, a.holder_type,
                    a.customer_id, md5(a.id), '[]', '[]', '[]', 'hosted', 'email',
                    a.authorization_id, a.id,
                    CASE WHEN {depth} >= 5 THEN 'succeeded'
                         WHEN {depth} = 4 THEN 'failed' ELSE 'pending' END,
                    (ARRAY[{", ".join(f"'{r}'" for r in REASONS)}])[abs(hashtext(a.id)::bigint) % 4 + 1],
                    'bench',
                    h.created_at, h.created_at,
                    CASE WHEN {depth} >= 4
                         THEN h.created_at + (abs(hashtext(a.id || 'r')::bigint) % 172800) * interval '1 second'
                    END
                FROM accounts a
                CROSS JOIN LATERAL (
                    SELECT CAST(:now AS timestamptz)
                        - (abs(hashtext(a.id || 'd')::bigint) % {HISTORY_DAYS}) * interval '1 day'
                        - (abs(hashtext(a.id || 'h')::bigint) % 86400) * interval '1 second'
                        AS created_at
                ) h
                WHERE a.platform_id = :platform AND a.livemode = :livemode
                  -- the demo book's own requests stay as they are (one pending per account)
                  AND NOT EXISTS (SELECT 1 FROM sessions p WHERE p.relink_account_id = a.id)
                """
            ),
            {"now": now, "platform": scope.platform_id, "livemode": scope.livemode},
        )
        steps = ", ".join(
            f"('{kind}', {needs}, {order})" for order, (kind, needs) in enumerate(TIMELINE)
        )
        written = (
            db.connection()
            .execute(
                text(
                    f"""
                INSERT INTO session_timeline (id, session_id, kind, at, detail)
                SELECT 'tl_' || md5(s.id || k.position), s.id, k.kind,
                       CASE WHEN k.kind IN ('succeeded', 'data_refreshed')
                            THEN s.finished_at + k.position * interval '1 second'
                            ELSE s.created_at + k.position * interval '1 minute' END,
                       '{{}}'
                FROM sessions s
                JOIN (VALUES {steps}) AS k(kind, needs, position)
                  ON (abs(hashtext(s.relink_account_id)::bigint) % 10) >= k.needs
                WHERE s.platform_id = :platform AND s.livemode = :livemode
                  AND s.created_by = 'bench'
                """
                ),
                {"platform": scope.platform_id, "livemode": scope.livemode},
            )
            .rowcount
        )
    return int(written)


def roll_up(runtime: Runtime, scope: Scope) -> tuple[float, int, float]:
    """Refresh the rollup until it covers the whole history, as the worker's scan would
    over successive runs; the seconds that took, the runs, and one steady refresh after."""
    with runtime.database.read_only() as db:
        first = db.scalar(
            select(func.min(Session.created_at)).where(
                in_scope(Session, scope), Session.delivery_method.is_not(None)
            )
        )
    started = time.perf_counter()
    runs = 0
    while True:
        with runtime.database.unit_of_work() as db:
            covered_from = refresh_scope(db, scope).covered_from
            runs += 1
        if first is None or covered_from <= first.date():
            break
    backfill = time.perf_counter() - started
    started = time.perf_counter()
    with runtime.database.unit_of_work() as db:
        refresh_scope(db, scope)
    return backfill, runs, time.perf_counter() - started


def empty_platform(runtime: Runtime) -> None:
    """A second platform with no history: the floor's page."""
    with runtime.database.unit_of_work() as db:
        create_platform(db, "Empty Lending", EMPTY_OWNER, password=DEMO_PASSWORD)


def timed_page(client: httpx.Client, path: str, repeat: int) -> tuple[list[float], str]:
    """``repeat`` timings of ``GET path`` after one warm-up, and the last page's text."""
    times, body = [], ""
    for attempt in range(repeat + 1):
        started = time.perf_counter()
        answer = client.get(path)
        elapsed = time.perf_counter() - started
        if answer.status_code != 200:
            raise SystemExit(f"GET {path} answered {answer.status_code}")
        body = answer.text
        if attempt:
            times.append(elapsed)
    return times, body


def requested_on_page(body: str) -> int:
    """The "Requested" total the page shows (proof it added up the history)."""
    found = re.search(r"<dt>Requested</dt><dd>([\d,]+)</dd>", body)
    return int(found.group(1).replace(",", "")) if found else -1


def bench(accounts: int, repeat: int) -> list[Figure]:
    with database("postgresql") as url, tempfile.TemporaryDirectory() as folder:
        runtime = make_runtime(url, Path(folder))
        try:
            scope = build_book(runtime, accounts)
            timeline_rows = seed_history(runtime, scope)
            empty_platform(runtime)
            analyze(runtime)
            backfill, runs, steady = roll_up(runtime, scope)
            analyze(runtime)
            today = scope.now().date()
            year = (
                f"/reports/outreach?since={today - dt.timedelta(days=HISTORY_DAYS - 1)}"
                f"&until={today}&by=week"
            )
            cases = {"30 days by day": "/reports/outreach", "year by week": year}
            figures = []
            with relink_server(url, Path(folder)) as server:
                owner = signed_in(server.url, DEMO_OWNER_EMAIL, DEMO_PASSWORD)
                empty = signed_in(server.url, EMPTY_OWNER, DEMO_PASSWORD)
                for case, path in cases.items():
                    floors, _ = timed_page(empty, path, repeat)
                    pages, body = timed_page(owner, path, repeat)
                    value, floor_ms = ms(statistics.median(pages)), ms(statistics.median(floors))
                    ratio = floor_ms / value if value else 1.0
                    requested = requested_on_page(body)
                    line = (
                        f"outreach report [{case}] N={accounts:,}: {value:,.1f} ms | "
                        f"floor {floor_ms:,.1f} ms | ratio {ratio:.3f} | "
                        f"p99 {ms(percentile(pages, 0.99)):,.1f} ms | "
                        f"{requested:,} requests on the page | "
                        f"rollup backfill {backfill:,.1f} s in {runs} runs, "
                        f"steady refresh {steady:,.2f} s | {timeline_rows:,} timeline rows"
                    )
                    figures.append(
                        Figure(
                            benchmark="outreach report",
                            variant=case,
                            n=accounts,
                            unit="ms",
                            value=value,
                            floor=floor_ms,
                            ratio=ratio,
                            metrics={
                                "p99_ms": ms(percentile(pages, 0.99)),
                                "requested_on_page": requested,
                                "backfill_s": round(backfill, 2),
                                "backfill_runs": runs,
                                "steady_refresh_s": round(steady, 3),
                                "timeline_rows": timeline_rows,
                            },
                            runs=[ms(run) for run in pages],
                            line=line,
                        )
                    )
                owner.close()
                empty.close()
            return figures
        finally:
            runtime.database.engine.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--accounts", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--smoke", action="store_true", help="N=3,000, one run")
    parser.add_argument("--json", action="store_true", help="one JSON object per figure")
    args = parser.parse_args(argv)
    accounts, repeat = (3_000, 1) if args.smoke else (args.accounts, args.repeat)
    with tempfile.TemporaryDirectory() as logs:
        log = log_to_file(Path(logs) / "relink.log")
        try:
            emit(bench(accounts, repeat), as_json=args.json)
        finally:
            log.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
