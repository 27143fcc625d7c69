"""Benchmark: bulk hosted relink request (spec 60 "bulk request").

Builds its own data — a live-mode platform with N accounts that are all eligible
(inactive, relink required, holder with an email) — then runs the real path,
:func:`relink.bulk_requests.service.request_relinks` over all of them in one transaction
(eligibility + sessions + timeline + outbox rows), on PostgreSQL and on SQLite.

The floor is the same number of rows (1 session + 2 timeline entries + 1 outbox row
per account) inserted by plain batched INSERTs in the same run. Each engine runs in
its own process so its peak RSS is its own. Prints, per engine, the median of
``--repeat`` runs: accounts/s, the floor's accounts/s, the ratio and the peak RSS.

    python -m bench.bulk_request                    # N=100,000, both engines
    python -m bench.bulk_request --smoke            # tiny N, for the test suite
    python -m bench.bulk_request --engines sqlite --accounts 20000
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import resource
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy import Table, insert, select, text

from bench._common import database, make_runtime
from relink.bulk_requests.service import request_relinks
from relink.eligibility.rules import BROKEN_SINCE_EVER
from relink.kit import ids
from relink.kit.crypto import token_digest
from relink.models import (
    Account,
    Authorization,
    Customer,
    Institution,
    OutboxMessage,
    Session,
    SessionTimelineEntry,
)
from relink.platforms.service import create_platform
from relink.runtime import Runtime
from relink.tenancy import Scope

SEED_BATCH = 5000
ACTOR = "user:bench"


# -- data ------------------------------------------------------------------------------


def table(model: Any) -> Table:
    return model.__table__  # type: ignore[no-any-return]


def ensure_live_institution(db: Any, now: dt.datetime) -> str:
    """A live-mode institution with relink support (the catalog is sandbox-only)."""
    institution_id = "fcinst_bench_live"
    if db.get(Institution, institution_id) is None:
        db.add(
            Institution(
                id=institution_id,
                livemode=True,
                connector="sandbox",
                connector_key="bank_oauth",
                settings={"base_url": "{sandbox_bank_url}", "institution": "bank_oauth"},
                name="Bench Live Bank",
                supports_relink=True,
                created_at=now,
            )
        )
        db.flush()
    return institution_id


def seed_platform(
    runtime: Runtime,
    accounts: int,
    *,
    scope: Scope | None = None,
    holder_email: str | None = None,
) -> Scope:
    """``accounts`` eligible accounts (set-based inserts) for a new live-mode platform, or
    for ``scope`` (a test-mode scope needs ``holder_email`` = a confirmed team address)."""
    now = dt.datetime.now(dt.UTC)
    with runtime.database.unit_of_work() as db:
        if scope is None:
            created = create_platform(
                db, "Bench Lending", f"bench-{secrets.token_hex(6)}@example.com"
            )
            scope = Scope(created.platform.id, True)
        institution = (
            ensure_live_institution(db, now) if scope.livemode else "fcinst_test_non_oauth"
        )
    done = 0
    while done < accounts:
        size = min(SEED_BATCH, accounts - done)
        customers, authorizations, rows = [], [], []
        for n in range(size):
            customer_id, authorization_id = ids.new("cus"), ids.new("fcauth")
            customers.append(
                {
                    "id": customer_id,
                    "platform_id": scope.platform_id,
                    "livemode": scope.livemode,
                    "email": holder_email or f"holder{done + n}@example.com",
                    "name": f"Holder {done + n}",
                    "preferred_locales": [],
                    "metadata": {},
                    "deleted": False,
                    "created_at": now,
                }
            )
            common = {
                "platform_id": scope.platform_id,
                "livemode": scope.livemode,
                "institution_id": institution,
                "holder_type": "customer",
                "customer_id": customer_id,
                "status": "inactive",
                "inactive_action": "relink_required",
                "inactive_cause": "access_expired",
                "created_at": now,
                "updated_at": now,
            }
            authorizations.append({"id": authorization_id, **common})
            rows.append(
                {
                    "id": ids.new("fca"),
                    "authorization_id": authorization_id,
                    "bank_account_id": f"bench_{done + n}",
                    "display_name": "Checking",
                    "last4": f"{(done + n) % 10000:04d}",
                    "category": "cash",
                    "subcategory": "checking",
                    "permissions": ["payment_method"],
                    "subscriptions": [],
                    "supported_payment_method_types": ["us_bank_account"],
                    "relink_due_at": BROKEN_SINCE_EVER,
                    **common,
                }
            )
        with runtime.database.unit_of_work() as db:
            db.execute(insert(table(Customer)), customers)
            db.execute(insert(table(Authorization)), authorizations)
            db.execute(insert(table(Account)), rows)
        done += size
    return scope


def floor_rows(platform_id: str, size: int, now: dt.datetime) -> dict[Table, list[dict[str, Any]]]:
    """One batch of the rows the real path writes for ``size`` accounts."""
    sessions: list[dict[str, Any]] = []
    timeline: list[dict[str, Any]] = []
    outbox: list[dict[str, Any]] = []
    for _ in range(size):
        session_id = ids.new("fcsess")
        sessions.append(
            {
                "id": session_id,
                "platform_id": platform_id,
                "livemode": True,
                "holder_type": "customer",
                "client_secret_digest": token_digest(
                    f"{session_id}_secret_{secrets.token_urlsafe(24)}"
                ),
                "permissions": ["payment_method"],
                "prefetch": [],
                "ui_mode": "hosted",
                "delivery_method": "email",
                "status": "pending",
                "collected_account_ids": [],
                "link_token_digest": secrets.token_hex(32),
                "created_by": ACTOR,
                "created_at": now,
                "updated_at": now,
            }
        )
        for kind in ("created", "email_queued"):
            timeline.append(
                {
                    "id": ids.new("tl"),
                    "session_id": session_id,
                    "kind": kind,
                    "at": now,
                    "detail": {},
                }
            )
        outbox.append(
            {
                "id": ids.new("obx"),
                "kind": "email.relink_request",
                "payload": {"session_id": session_id},
                "dedupe_key": f"email:relink:{session_id}",
                "platform_id": platform_id,
                "livemode": True,
                "status": "pending",
                "attempts": 0,
                "run_after": now,
                "created_at": now,
            }
        )
    return {
        table(Session): sessions,
        table(SessionTimelineEntry): timeline,
        table(OutboxMessage): outbox,
    }


# -- runs ------------------------------------------------------------------------------


def run_real(runtime: Runtime, scope: Scope, accounts: int) -> float:
    selection = select(Account).where(
        Account.platform_id == scope.platform_id, Account.livemode == scope.livemode
    )
    started = time.perf_counter()
    with runtime.database.unit_of_work() as db:
        result = request_relinks(db, scope, runtime, selection, actor=ACTOR)
    elapsed = time.perf_counter() - started
    if result.created != accounts:
        raise SystemExit(f"expected {accounts} sessions, created {result.created}: {result}")
    return elapsed


def run_floor(runtime: Runtime, platform_id: str, accounts: int) -> float:
    """Plain batched INSERTs of the same rows; only the INSERTs and the commit are timed."""
    now = dt.datetime.now(dt.UTC)
    elapsed = 0.0
    with runtime.database.unit_of_work() as db:
        done = 0
        while done < accounts:
            size = min(SEED_BATCH, accounts - done)
            batch = floor_rows(platform_id, size, now)
            started = time.perf_counter()
            for target, rows in batch.items():
                db.execute(insert(target), rows)
            elapsed += time.perf_counter() - started
            done += size
        started = time.perf_counter()
    elapsed += time.perf_counter() - started  # the commit
    return elapsed


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def bench_engine(engine: str, accounts: int, repeat: int) -> dict[str, Any]:
    with database(engine) as url, tempfile.TemporaryDirectory() as var_dir:
        runtime = make_runtime(url, Path(var_dir))
        reals, floors = [], []
        for _ in range(repeat):
            scope = seed_platform(runtime, accounts)
            if engine == "postgresql":
                with runtime.database.unit_of_work() as db:
                    db.execute(text("ANALYZE"))
            reals.append(run_real(runtime, scope, accounts))
            floors.append(run_floor(runtime, scope.platform_id, accounts))
        runtime.database.engine.dispose()
    real, floor = statistics.median(reals), statistics.median(floors)
    return {
        "engine": engine,
        "accounts": accounts,
        "rate": accounts / real,
        "floor_rate": accounts / floor,
        "ratio": floor / real,
        "peak_rss_mb": peak_rss_mb(),
        "runs": reals,
    }


def report(result: dict[str, Any]) -> str:
    return (
        f"bulk request [{result['engine']}] N={result['accounts']:,}: "
        f"{result['rate']:,.0f} accounts/s | floor {result['floor_rate']:,.0f} accounts/s "
        f"({result['floor_rate'] * 4:,.0f} rows/s) | ratio {result['ratio']:.2f} | "
        f"peak RSS {result['peak_rss_mb']:.0f} MB"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--engines", default="postgresql,sqlite")
    parser.add_argument("--smoke", action="store_true", help="tiny N, one run: a quick check")
    parser.add_argument("--engine", help=argparse.SUPPRESS)  # child process: one engine
    args = parser.parse_args(argv)
    accounts, repeat = (300, 1) if args.smoke else (args.accounts, args.repeat)
    if args.engine:
        print(json.dumps(bench_engine(args.engine, accounts, repeat)))
        return 0
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    if args.smoke:
        # In this process: quick, and the peak RSS is the whole run's.
        for engine in engines:
            print(report(bench_engine(engine, accounts, repeat)), flush=True)
        return 0
    failed = False
    for engine in engines:
        child = subprocess.run(
            [
                *(sys.executable, "-m", "bench.bulk_request", "--engine", engine),
                *("--accounts", str(accounts), "--repeat", str(repeat)),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if child.returncode != 0:
            failed = True
            print(f"bulk request [{engine}]: failed\n{child.stderr.strip()}", file=sys.stderr)
            continue
        print(report(json.loads(child.stdout.strip().splitlines()[-1])), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
