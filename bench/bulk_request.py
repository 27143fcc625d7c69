"""Benchmark: bulk hosted relink request (spec 60 "bulk request", speed round two).

Builds its own data: the demo platform's sandbox book of N accounts (default 100,000, as
``relink demo --accounts N`` builds it) copied to live mode at a live institution that
supports relink, so every holder is reachable and the book's broken accounts (about a
third) are eligible. Then, per run:

- **real path**: ``relink request-relink --platform … --mode live`` as an operator runs it
  (its own process: start-up, eligibility over the whole book, one session, two timeline
  entries and one outbox row per eligible account, the commit), timed from outside;
- **floor**: the database's own speed for the same rows — the same number of sessions
  (for the same accounts, so the same indexes and foreign keys are checked), timeline
  entries and outbox rows written server-side by one ``INSERT … SELECT`` each, in one
  transaction, into the same tables.

Both runs' rows are deleted after each (and PostgreSQL's tables vacuumed) so every run
starts from the same book. Each engine runs in its own process. Prints, per engine, the
median of ``--repeat`` runs: requested accounts/s, the floor's accounts/s, the ratio
(budget ≥ 0.5) and the command's peak RSS.

    python -m bench.bulk_request                    # N=100,000, both engines
    python -m bench.bulk_request --smoke            # tiny N, for the test suite
    python -m bench.bulk_request --engines sqlite --accounts 20000 --json
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import DateTime, bindparam, func, select, text
from sqlalchemy.orm import Session as DbSession

from bench._common import BENCH_SECRET_KEY, Figure, database, emit, make_runtime
from bench.eligibility_filter import build_book, copy_book_to_live
from relink.models import Session
from relink.runtime import Runtime
from relink.tenancy import Scope

ACTOR = "cli"  # what `relink request-relink` writes as the sessions' creator
FLOOR_ACTOR = "bench-floor"
TARGETS = "bench_bulk_targets"


# -- data ------------------------------------------------------------------------------


def build_live_book(runtime: Runtime, accounts: int) -> Scope:
    return copy_book_to_live(runtime, build_book(runtime, accounts))


# -- runs ------------------------------------------------------------------------------


def command_environment(url: str, var_dir: Path) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if not name.startswith("RELINK_")}
    # As an installed command runs: with compiled bytecode (the warm-up run writes it under
    # the run's own folder; the measured runs read it).
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(var_dir / "pycache")
    env.update(
        RELINK_DATABASE_URL=url,
        RELINK_SECRET_KEY=BENCH_SECRET_KEY,
        RELINK_VAR_DIR=str(var_dir),
        RELINK_ENV="test",
    )
    return env


def request_command(scope: Scope, *extra: str) -> list[str]:
    return [
        str(Path(sys.executable).with_name("relink")),
        *("request-relink", "--platform", scope.platform_id, "--mode", "live", *extra),
    ]


def warm_up(url: str, var_dir: Path, scope: Scope) -> None:
    """A dry run first: it compiles the command's modules, as a second run of an installed
    command finds them."""
    subprocess.run(
        request_command(scope, "--dry-run"),
        env=command_environment(url, var_dir),
        capture_output=True,
        check=True,
    )


def run_real(url: str, var_dir: Path, scope: Scope) -> tuple[float, float]:
    """``relink request-relink`` over the live book: (wall seconds, peak RSS in MB)."""
    command = request_command(scope)
    started = time.perf_counter()
    child = subprocess.Popen(
        command,
        env=command_environment(url, var_dir),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    _, status, usage = os.wait4(child.pid, 0)
    elapsed = time.perf_counter() - started
    assert child.stderr is not None
    stderr = child.stderr.read().decode(errors="replace")
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"relink request-relink failed:\n{stderr[-3000:]}")
    return elapsed, usage.ru_maxrss / 1024


def created_by(db: DbSession, scope: Scope, actor: str) -> int:
    return int(
        db.scalar(
            select(func.count())
            .select_from(Session)
            .where(Session.platform_id == scope.platform_id, Session.created_by == actor)
        )
        or 0
    )


def keep_targets(runtime: Runtime, scope: Scope) -> int:
    """Remember the accounts the real path requested (the floor writes rows for them)."""
    with runtime.database.unit_of_work() as db:
        db.execute(text(f"DELETE FROM {TARGETS}"))
        db.execute(
            text(
                f"INSERT INTO {TARGETS} (account_id) SELECT relink_account_id FROM sessions "
                "WHERE platform_id = :platform AND created_by = :actor"
            ),
            {"platform": scope.platform_id, "actor": ACTOR},
        )
        return int(db.scalar(text(f"SELECT count(*) FROM {TARGETS}")) or 0)


def delete_requests(runtime: Runtime, scope: Scope) -> None:
    """Remove every session of the platform with its timeline, outbox rows and bundles."""
    with runtime.database.unit_of_work() as db:
        params = {"platform": scope.platform_id}
        db.execute(
            text(
                "DELETE FROM session_timeline WHERE session_id IN "
                "(SELECT id FROM sessions WHERE platform_id = :platform)"
            ),
            params,
        )
        db.execute(text("DELETE FROM outbox WHERE platform_id = :platform"), params)
        db.execute(text("DELETE FROM sessions WHERE platform_id = :platform"), params)
        db.execute(text("DELETE FROM relink_bundles WHERE platform_id = :platform"), params)
    if runtime.database.engine.dialect.name == "postgresql":
        with runtime.database.engine.connect() as connection:
            connection = connection.execution_options(isolation_level="AUTOCOMMIT")
            connection.execute(
                text("VACUUM ANALYZE sessions, session_timeline, outbox, relink_bundles")
            )


def floor_statements(dialect: str) -> list[str]:
    """The floor's three ``INSERT … SELECT``: the same columns the real path fills."""
    if dialect == "postgresql":
        digest = "md5(a.id || '{salt}') || md5(a.id || '{salt}{salt}')"
        created_detail = """CAST('{"by": "cli"}' AS JSONB)"""
        empty = "CAST('{}' AS JSONB)"
        empty_list = "CAST('[]' AS JSONB)"
        payload = "jsonb_build_object('session_id', s.id)"
    else:
        digest = "lower(hex(randomblob(32)))"
        created_detail = """'{"by": "cli"}'"""
        empty = "'{}'"
        empty_list = "'[]'"
        payload = "json_object('session_id', s.id)"
    sessions = f"""
        INSERT INTO sessions (
            id, platform_id, livemode, holder_type, customer_id, connected_account_id,
            client_secret_digest, permissions, prefetch, ui_mode, delivery_method,
            relink_authorization_id, relink_account_id, status, collected_account_ids,
            link_token_digest, created_by, relink_reason, created_at, updated_at)
        SELECT 'fcsess_' || substr(a.id, 5), a.platform_id, a.livemode, a.holder_type,
            a.customer_id, a.connected_account_id, {digest.format(salt="c")}, a.permissions,
            {empty_list}, 'hosted', 'email', a.authorization_id, a.id, 'pending',
            {empty_list}, {digest.format(salt="l")}, '{FLOOR_ACTOR}', 'access_expired',
            :now, :now
        FROM {TARGETS} t JOIN accounts a ON a.id = t.account_id"""
    timeline = f"""
        INSERT INTO session_timeline (id, session_id, kind, at, detail)
        SELECT 'tl_' || k.tag || substr(s.id, 8), s.id, k.kind, :now,
            CASE WHEN k.kind = 'created' THEN {created_detail} ELSE {empty} END
        FROM sessions s CROSS JOIN (
            SELECT 'created' AS kind, 'c' AS tag UNION ALL SELECT 'email_queued', 'q'
        ) k
        WHERE s.platform_id = :platform AND s.created_by = '{FLOOR_ACTOR}'"""
    outbox = f"""
        INSERT INTO outbox (
            id, kind, payload, dedupe_key, platform_id, livemode, status, attempts,
            run_after, created_at)
        SELECT 'obx_' || substr(s.id, 8), 'email.relink_request', {payload},
            'email:relink:' || s.id, s.platform_id, s.livemode, 'pending', 0, :now, :now
        FROM sessions s
        WHERE s.platform_id = :platform AND s.created_by = '{FLOOR_ACTOR}'"""
    return [sessions, timeline, outbox]


def run_floor(runtime: Runtime, scope: Scope) -> float:
    statements = [
        text(sql).bindparams(bindparam("now", type_=DateTime(timezone=True)))
        for sql in floor_statements(runtime.database.engine.dialect.name)
    ]
    params = {"platform": scope.platform_id, "now": dt.datetime.now(dt.UTC)}
    started = time.perf_counter()
    with runtime.database.unit_of_work() as db:
        for statement in statements:
            db.execute(statement, params)
    return time.perf_counter() - started


def bench_engine(engine: str, accounts: int, repeat: int) -> Figure:
    with database(engine) as url, tempfile.TemporaryDirectory() as folder:
        var_dir = Path(folder)
        runtime = make_runtime(url, var_dir)
        scope = build_live_book(runtime, accounts)
        with runtime.database.unit_of_work() as db:
            db.execute(text(f"CREATE TABLE {TARGETS} (account_id VARCHAR(40) PRIMARY KEY)"))
        if engine == "postgresql":
            with runtime.database.engine.connect() as connection:
                connection.execution_options(isolation_level="AUTOCOMMIT").execute(
                    text("VACUUM ANALYZE")
                )
        warm_up(url, var_dir, scope)
        reals, floors, rss, requested = [], [], [], 0
        for _ in range(repeat):
            seconds, peak = run_real(url, var_dir, scope)
            requested = keep_targets(runtime, scope)
            delete_requests(runtime, scope)
            floor = run_floor(runtime, scope)
            with runtime.database.read_only() as db:
                if created_by(db, scope, FLOOR_ACTOR) != requested:
                    raise SystemExit("the floor did not write a session per requested account")
            delete_requests(runtime, scope)
            reals.append(seconds)
            floors.append(floor)
            rss.append(peak)
        runtime.database.engine.dispose()
    if not requested:
        raise SystemExit("the real path requested no relink: the book has no eligible account")
    real, floor = statistics.median(reals), statistics.median(floors)
    rate, floor_rate = requested / real, requested / floor
    peak_rss = max(rss)
    return Figure(
        benchmark="bulk request",
        variant=engine,
        n=accounts,
        unit="accounts/s",
        value=rate,
        floor=floor_rate,
        ratio=floor / real,
        metrics={"peak_rss_mb": peak_rss, "requested": requested, "seconds": real},
        runs=[requested / seconds for seconds in reals],
        line=(
            f"bulk request [{engine}] N={accounts:,} ({requested:,} requested): "
            f"{rate:,.0f} accounts/s | floor (INSERT … SELECT) {floor_rate:,.0f} accounts/s "
            f"| ratio {floor / real:.2f} | peak RSS {peak_rss:.0f} MB"
        ),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--engines", default="postgresql,sqlite")
    parser.add_argument("--smoke", action="store_true", help="tiny N, one run: a quick check")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    accounts, repeat = (300, 1) if args.smoke else (args.accounts, args.repeat)
    figures = [
        bench_engine(engine.strip(), accounts, repeat)
        for engine in args.engines.split(",")
        if engine.strip()
    ]
    emit(figures, as_json=args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
