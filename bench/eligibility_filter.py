"""Benchmark: eligibility filter (spec 60 "eligibility filter").

Builds its own data on a fresh PostgreSQL database: the demo platform and its sandbox
book grown to N accounts (default 1,000,000) by the demo's own large-book path
(:func:`relink.demo.ensure_demo_book`, what ``relink demo --accounts N`` runs: COPY in
batches), then ``ANALYZE``. The book is test mode, so "eligible" also requires the
holder's email to be a confirmed team member's: a handful of needles in the haystack,
which is the hard case for a first page.

Times, in the dashboard's scope and with its code:

- ``page query``: the first page of the Accounts list filtered to "eligible for relink"
  (:func:`relink.accounts.filters.filtered_accounts` with ``AccountFilter(eligible=True)``,
  50 rows newest first, as :func:`relink.kit.pagination.paginate` runs it);
- ``page data``: everything the dashboard loads for that page
  (:func:`relink.dashboard.queries.accounts_page`: the page, the capped count and the
  per-row decoration);

against the floor, in the same run: the first page of the scope's accounts without any
filter (an index range scan of 51 rows). Prints the median of ``--repeat`` timings
(each after one warm-up) with the ratio, and ``EXPLAIN (ANALYZE, BUFFERS)`` of the page
query, which must use an index (budget: < 200 ms).

    python -m bench.eligibility_filter              # N=1,000,000
    python -m bench.eligibility_filter --smoke      # N=10,000
    python -m bench.eligibility_filter --accounts 200000 --json
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import Select, text
from sqlalchemy.orm import Session as DbSession

from bench._book import ensure_live_institution
from bench._common import Figure, database, emit, log_to_file, make_runtime, ms
from relink.accounts.filters import AccountFilter, filtered_accounts
from relink.dashboard.queries import accounts_page
from relink.demo import ensure_demo_book, ensure_demo_platform
from relink.institutions.service import register_institutions
from relink.kit.pagination import Cursor, paginate
from relink.models import Account, Base
from relink.runtime import Runtime
from relink.tenancy import Scope, load_platform_scope

PAGE = 50
# "Index Scan [Backward] using ix on table", "Index Only Scan using ix on table",
# "Bitmap Index Scan on ix".
INDEX_NODE = re.compile(r"(?:Index (?:Only )?Scan(?: Backward)? using|Bitmap Index Scan on) (\w+)")
# How the accounts table itself is read: through one of its indexes, or not.
ACCOUNTS_BY_INDEX = re.compile(
    r"(?:Index (?:Only )?Scan(?: Backward)? using \w+|Bitmap Heap Scan) on accounts\b"
)
SEQ_SCAN_ON_ACCOUNTS = re.compile(r"Seq Scan on accounts\b")
LIVE_SUFFIX = "_l"
# The live copy of the book: ids get a suffix (order kept), references follow them.
COPIED_TABLES = ("customers", "connected_accounts", "authorizations", "accounts", "account_numbers")
REFERENCES = ("id", "customer_id", "connected_account_id", "authorization_id", "account_id")


def build_book(runtime: Runtime, accounts: int) -> Scope:
    """The demo platform's test-mode book of ``accounts`` accounts, as ``relink demo``."""
    with runtime.database.unit_of_work() as db:
        register_institutions(db)
    credentials = ensure_demo_platform(runtime)
    ensure_demo_book(runtime, credentials["platform"], accounts=accounts)
    with runtime.database.read_only() as db:
        return load_platform_scope(db, credentials["platform"], False)


def copy_book_to_live(runtime: Runtime, scope: Scope) -> Scope:
    """The same book in live mode (set-based ``INSERT … SELECT``), at a live institution
    that supports relink: there, "eligible" does not depend on team emails, so most broken
    accounts with a holder email are eligible (the common production case)."""
    with runtime.database.unit_of_work() as db:
        if db.get_bind().dialect.name == "postgresql":
            # Building the data is not the measured path: a million rows a table may take
            # longer than the application's statement timeout on a busy machine.
            db.execute(text("SET LOCAL statement_timeout = 0"))
        institution = ensure_live_institution(db, scope.now())
        for name in COPIED_TABLES:
            table = Base.metadata.tables[name]
            columns = [column.name for column in table.columns]
            values = []
            for column in columns:
                if column in REFERENCES:
                    values.append(f'"{column}" || :suffix')
                elif column == "livemode":
                    values.append("true")
                elif column == "institution_id":
                    values.append(":institution")
                else:
                    values.append(f'"{column}"')
            quoted = ", ".join(f'"{column}"' for column in columns)
            db.execute(
                text(
                    f'INSERT INTO "{name}" ({quoted}) SELECT {", ".join(values)} '
                    f'FROM "{name}" WHERE platform_id = :platform AND livemode = false'
                ),
                {"suffix": LIVE_SUFFIX, "platform": scope.platform_id, "institution": institution},
            )
    return Scope(scope.platform_id, True)


def analyze(runtime: Runtime) -> None:
    with runtime.database.engine.connect() as connection:
        connection.execution_options(isolation_level="AUTOCOMMIT").execute(text("ANALYZE"))


def explain(db: DbSession, statement: Select[Any]) -> str:
    # render_postcompile: expanding IN (...) parameters become plain placeholders.
    compiled = statement.compile(
        dialect=db.get_bind().dialect, compile_kwargs={"render_postcompile": True}
    )
    sql = f"EXPLAIN (ANALYZE, BUFFERS) {compiled}"
    rows = db.connection().exec_driver_sql(sql, compiled.params).all()
    return "\n".join(str(row[0]) for row in rows)


def timed(runtime: Runtime, work: Callable[[DbSession], object], repeat: int) -> list[float]:
    """``repeat`` timings of ``work`` in its own read-only session, after one warm-up."""
    times = []
    for attempt in range(repeat + 1):
        with runtime.database.read_only() as db:
            started = time.perf_counter()
            work(db)
            elapsed = time.perf_counter() - started
        if attempt:
            times.append(elapsed)
    return times


def measure(runtime: Runtime, scope: Scope, accounts: int, repeat: int) -> list[Figure]:
    """The page query and the page data of "eligible" in ``scope``, against the floor."""
    mode = "live" if scope.livemode else "test"
    now = scope.now()
    eligible = filtered_accounts(scope, now, AccountFilter(eligible=True))
    everything = filtered_accounts(scope, now, AccountFilter())
    first_page = Cursor(PAGE)
    found: list[int] = []

    def page_query(db: DbSession) -> None:
        found.append(len(paginate(db, eligible, Account.id, first_page).items))

    def page_data(db: DbSession) -> None:
        accounts_page(db, scope, now, eligible, first_page)

    def floor(db: DbSession) -> None:
        paginate(db, everything, Account.id, first_page)

    floors = timed(runtime, floor, repeat)
    queries = timed(runtime, page_query, repeat)
    pages = timed(runtime, page_data, repeat)
    with runtime.database.read_only() as db:
        plan = explain(db, eligible.order_by(Account.id.desc()).limit(PAGE + 1))
    indexes = sorted(set(INDEX_NODE.findall(plan)))
    uses_index = bool(ACCOUNTS_BY_INDEX.search(plan)) and not SEQ_SCAN_ON_ACCOUNTS.search(plan)
    floor_ms = ms(statistics.median(floors))
    figures = []
    for case, runs in (("page query", queries), ("page data", pages)):
        value = ms(statistics.median(runs))
        ratio = floor_ms / value if value else 1.0
        line = (
            f"eligibility filter [{mode} {case}] N={accounts:,}: {value:,.1f} ms | "
            f"floor {floor_ms:,.1f} ms | ratio {ratio:.3f} | "
            f"{found[-1]} eligible on the page | "
            f"index on accounts: {'yes' if uses_index else 'NO'} ({', '.join(indexes)})"
        )
        if case == "page query":
            line += "\n" + "\n".join(f"    {row}" for row in plan.splitlines())
        figures.append(
            Figure(
                benchmark="eligibility filter",
                variant=f"{mode} {case}",
                n=accounts,
                unit="ms",
                value=value,
                floor=floor_ms,
                ratio=ratio,
                metrics={
                    "uses_index": uses_index,
                    "indexes": indexes,
                    "rows": found[-1],
                    "plan": plan,
                },
                runs=[ms(run) for run in runs],
                line=line,
            )
        )
    return figures


def bench(accounts: int, repeat: int, modes: list[str]) -> list[Figure]:
    with database("postgresql") as url, tempfile.TemporaryDirectory() as folder:
        runtime = make_runtime(url, Path(folder))
        try:
            test_scope = build_book(runtime, accounts)
            scopes = {"test": test_scope}
            if "live" in modes:
                scopes["live"] = copy_book_to_live(runtime, test_scope)
            analyze(runtime)
            return [
                figure
                for mode in modes
                for figure in measure(runtime, scopes[mode], accounts, repeat)
            ]
        finally:
            runtime.database.engine.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--accounts", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--modes", default="test,live", help="test (the demo book), live")
    parser.add_argument("--smoke", action="store_true", help="N=10,000, one run")
    parser.add_argument("--json", action="store_true", help="one JSON object per figure")
    args = parser.parse_args(argv)
    accounts, repeat = (10_000, 1) if args.smoke else (args.accounts, args.repeat)
    with tempfile.TemporaryDirectory() as logs:
        log = log_to_file(Path(logs) / "relink.log")
        try:
            modes = [m.strip() for m in args.modes.split(",") if m.strip()]
            emit(bench(accounts, repeat, modes), as_json=args.json)
        finally:
            log.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
