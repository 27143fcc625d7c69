"""Benchmark: the automatic relink scan over 1,000,000 accounts (issue 16, "outreach at scale").

Builds its own data on a fresh PostgreSQL database: the demo book grown to N accounts
(default 1,000,000, :func:`relink.demo.ensure_demo_book`) and its live copy at a live
institution that supports relink (as ``bench.eligibility_filter`` does: there, most broken
accounts with a holder email are eligible, the production case), with the automatic relink
policy on for the live scope, then ``ANALYZE``.

Times, with the scan's own functions (:mod:`relink.automatic_relink.tasks`), each batch of
:data:`~relink.automatic_relink.tasks.BATCH_SIZE` in a transaction rolled back afterwards
so every run meets the same rows:

- ``start batch``: step 2 on a scope without episodes — the first batch of newly eligible
  accounts found and their episodes written;
- ``start pass, none new``: step 2 once every eligible account has its episode — the
  minute-by-minute cost of finding that nothing is new among N accounts;
- ``request batch``: step 3 — a batch of due episodes requested through the bulk
  request's path (sessions, timeline, outbox rows);
- ``remind batch``: step 4 three days later — a batch of reminders queued;

against the floor, in the same run: the first :data:`BATCH_SIZE` ids of the scope's
accounts without any filter (an index range scan). The plans of steps 2 and 3's queries
(``EXPLAIN (ANALYZE, BUFFERS)``) must read the accounts through an index.
Budget: < 200 ms a batch (the dashboard's page budget).

    python -m bench.automatic_relink              # N=1,000,000
    python -m bench.automatic_relink --smoke      # N=10,000, one run
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session as DbSession

from bench._common import Figure, database, emit, log_to_file, make_runtime, ms
from bench.eligibility_filter import (
    ACCOUNTS_BY_INDEX,
    INDEX_NODE,
    SEQ_SCAN_ON_ACCOUNTS,
    analyze,
    build_book,
    copy_book_to_live,
    explain,
)
from relink.automatic_relink.service import PolicyChanges, change_policy
from relink.automatic_relink.tasks import (
    BATCH_SIZE,
    _due,
    newly_eligible,
    remind_due,
    request_due,
    start_episodes,
)
from relink.models import Account, AutomaticRelink
from relink.runtime import Runtime
from relink.tenancy import Scope, in_scope

REMIND_AFTER = dt.timedelta(days=3, hours=1)


def rolled_back(runtime: Runtime, work: Callable[[DbSession], object], repeat: int) -> list[float]:
    """``repeat`` timings of ``work`` in a transaction rolled back, after one warm-up."""
    times = []
    for attempt in range(repeat + 1):
        with DbSession(runtime.database.engine) as db:
            started = time.perf_counter()
            work(db)
            db.flush()
            elapsed = time.perf_counter() - started
            db.rollback()
        if attempt:
            times.append(elapsed)
    return times


def start_all(runtime: Runtime, scope: Scope, policy: object, now: dt.datetime) -> int:
    """Start every episode (committed, batch by batch, as the scan does); how many."""
    after, total = None, 0
    while True:
        with runtime.database.unit_of_work() as db:
            started, after = start_episodes(db, scope, policy, now, after, BATCH_SIZE)  # type: ignore[arg-type]
        total += started
        if after is None:
            return total


def bench(accounts: int, repeat: int) -> list[Figure]:
    with database("postgresql") as url, tempfile.TemporaryDirectory() as folder:
        runtime = make_runtime(url, Path(folder))
        try:
            scope = copy_book_to_live(runtime, build_book(runtime, accounts))
            now = scope.now()
            with runtime.database.unit_of_work() as db:
                policy = change_policy(db, scope, PolicyChanges(enabled=True, delay_seconds=0))
            analyze(runtime)
            floors = rolled_back(
                runtime,
                lambda db: db.scalars(
                    select(Account.id)
                    .where(in_scope(Account, scope))
                    .order_by(Account.id)
                    .limit(BATCH_SIZE)
                ).all(),
                repeat,
            )
            start_batch = rolled_back(
                runtime,
                lambda db: start_episodes(db, scope, policy, now, None, BATCH_SIZE),
                repeat,
            )
            with runtime.database.read_only() as db:
                start_plan = explain(db, newly_eligible(scope, now, None, BATCH_SIZE))
            episodes = start_all(runtime, scope, policy, now)
            analyze(runtime)

            batches = 0

            def start_pass(db: DbSession) -> None:
                nonlocal batches
                after: str | None = None
                batches = 0
                while True:
                    _, after = start_episodes(db, scope, policy, now, after, BATCH_SIZE)
                    batches += 1
                    if after is None:
                        return

            start_none = rolled_back(runtime, start_pass, repeat)
            request_batch = rolled_back(
                runtime,
                lambda db: request_due(db, scope, runtime, policy, now, BATCH_SIZE),
                repeat,
            )
            with runtime.database.read_only() as db:
                due_plan = explain(db, _due(scope, now, requested=False, limit=BATCH_SIZE))
            # One batch requested for real, its emails as sent: then its reminders are due.
            with runtime.database.unit_of_work() as db:
                request_due(db, scope, runtime, policy, now, BATCH_SIZE)
                db.execute(
                    update(AutomaticRelink)
                    .where(
                        in_scope(AutomaticRelink, scope),
                        AutomaticRelink.requested_at.is_not(None),
                    )
                    .values(emails=1)
                )
            later = now + REMIND_AFTER
            remind_batch = rolled_back(
                runtime, lambda db: remind_due(db, scope, policy, later, BATCH_SIZE), repeat
            )
            with runtime.database.read_only() as db:
                requested = db.scalar(
                    select(func.count()).where(
                        in_scope(AutomaticRelink, scope),
                        AutomaticRelink.requested_at.is_not(None),
                    )
                )
        finally:
            runtime.database.engine.dispose()
    floor_ms = ms(statistics.median(floors))
    plans = {"start batch": start_plan, "request batch": due_plan}
    figures = []
    for case, runs in (
        ("start batch", start_batch),
        ("start pass, none new", start_none),
        ("request batch", request_batch),
        ("remind batch", remind_batch),
    ):
        value = ms(statistics.median(runs))
        ratio = floor_ms / value if value else 1.0
        plan = plans.get(case)
        line = (
            f"automatic relink [{case}] N={accounts:,}: {value:,.1f} ms | "
            f"floor {floor_ms:,.1f} ms | ratio {ratio:.3f} | "
            f"{episodes:,} episodes, {requested:,} requested"
        )
        metrics: dict[str, object] = {"episodes": episodes}
        if case == "start pass, none new" and batches:
            # The budget is a batch's: the pass is every batch of the scope in a row.
            metrics.update(batches=batches, per_batch_ms=value / batches)
            line += f" | {batches:,} batches, {value / batches:,.1f} ms a batch"
        if plan is not None:
            uses_index = bool(ACCOUNTS_BY_INDEX.search(plan)) and not SEQ_SCAN_ON_ACCOUNTS.search(
                plan
            )
            indexes = sorted(set(INDEX_NODE.findall(plan)))
            line += f" | index on accounts: {'yes' if uses_index else 'NO'} ({', '.join(indexes)})"
            line += "\n" + "\n".join(f"    {row}" for row in plan.splitlines())
            metrics.update(uses_index=uses_index, indexes=indexes, plan=plan)
        figures.append(
            Figure(
                benchmark="automatic relink",
                variant=case,
                n=accounts,
                unit="ms",
                value=value,
                floor=floor_ms,
                ratio=ratio,
                metrics=metrics,
                runs=[ms(run) for run in runs],
                line=line,
            )
        )
    return figures


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
