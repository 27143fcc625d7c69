"""Scale-out: 2 web + 2 worker processes on one PostgreSQL (spec 50 "Processes and
scale-out", 60 "Reliability").

A bulk hosted relink request (the background job the dashboard's Confirm starts) and
API session creates fired at both web processes at once; test-helper calls through both
web processes produce webhook events for two endpoints. Halfway through, one worker is
killed with SIGKILL and a new one started. Every email must reach the SMTP server (a
replay after the kill may deliver a message twice, always with the same Message-ID, which
receivers dedupe on) and every event must reach each endpoint.

    python -m bench.scale_out            # 20,000 bulk + 2,000 API sessions, 2,000 events
    python -m bench.scale_out --smoke    # 600 + 60, 60 events
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
from sqlalchemy import func, select

from bench._book import seed_platform
from bench._common import (
    BENCH_SECRET_KEY,
    HOST,
    Figure,
    database,
    emit,
    make_runtime,
    relink_command,
    relink_server,
)
from bench.email_delivery import smtp_server
from relink.bulk_requests.service import enqueue_bulk_request
from relink.institutions.service import register_institutions
from relink.models import Account, OutboxMessage, OutboxStatus
from relink.platforms.service import create_platform
from relink.runtime import Runtime
from relink.tenancy import Scope
from relink.webhooks.repository import WebhookEndpointRepository
from relink.webhooks.service import EndpointChanges, create_endpoint

MESSAGE_ID = re.compile(rb"^Message-ID:\s*(<[^>]+>)", re.MULTILINE | re.IGNORECASE)


@dataclass
class Result:
    expected_emails: int
    unique_emails: int
    duplicate_emails: int
    expected_deliveries: int
    unique_deliveries: int
    duplicate_deliveries: int
    killed_after_emails: int
    pending_outbox_rows: int
    seconds: float

    @property
    def nothing_lost(self) -> bool:
        return (
            self.unique_emails == self.expected_emails
            and self.unique_deliveries == self.expected_deliveries
            and self.pending_outbox_rows == 0
        )


@contextmanager
def webhook_receiver() -> Iterator[tuple[str, Counter[tuple[str, str]]]]:
    """An HTTP server counting (endpoint path, event id) deliveries."""
    seen: Counter[tuple[str, str]] = Counter()
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            with lock:
                seen[(self.path, json.loads(body)["id"])] += 1
            self.send_response(200)
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer((HOST, 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://{HOST}:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()


def start_worker(url: str, var_dir: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    var_dir.mkdir(parents=True, exist_ok=True)
    with (var_dir / "worker.log").open("ab") as log:
        return subprocess.Popen(
            [*relink_command(), "worker", "--concurrency", "50"],
            cwd=var_dir,
            env={**os.environ, **env, "RELINK_DATABASE_URL": url, "RELINK_VAR_DIR": str(var_dir)},
            stdout=log,
            stderr=subprocess.STDOUT,
        )


def stop_workers(workers: list[subprocess.Popen[bytes]]) -> None:
    for worker in workers:
        worker.terminate()
    for worker in workers:
        try:
            worker.wait(timeout=15)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()


def count_unsettled(runtime: Runtime, platform_ids: list[str]) -> int:
    """Outbox rows of the scenario's platforms that are not ``done`` (pending or dead)."""
    with runtime.database.read_only() as db:
        return (
            db.scalar(
                select(func.count())
                .select_from(OutboxMessage)
                .where(
                    OutboxMessage.platform_id.in_(platform_ids),
                    OutboxMessage.status != OutboxStatus.done,
                )
            )
            or 0
        )


def run_scenario(bulk: int, api: int, events: int, *, timeout: float | None = None) -> Result:
    started = time.monotonic()
    timeout = timeout or 180 + (bulk + api) / 20
    with ExitStack() as stack, tempfile.TemporaryDirectory(prefix="relink-scale-") as folder:
        root = Path(folder)
        url = stack.enter_context(database("postgresql", suffix="scale"))
        runtime = make_runtime(url, root / "setup")
        with runtime.database.unit_of_work() as db:
            register_institutions(db)
            created = create_platform(db, "Scale Lending", "owner@scale.example.com")
            # The API's sessions are another platform's: the bulk request takes every
            # account of its own (a filter: more accounts than a list of ids may name).
            api_platform = create_platform(db, "Scale API Lending", "owner@scale-api.example.com")
        live = seed_platform(runtime, bulk, scope=Scope(created.platform.id, True))
        api_live = seed_platform(runtime, api, scope=Scope(api_platform.platform.id, True))
        test = seed_platform(
            runtime,
            events,
            scope=Scope(created.platform.id, False),
            holder_email=created.owner.email,
        )
        with runtime.database.read_only() as db:
            api_accounts = list(
                db.execute(
                    select(Account.id, Account.authorization_id)
                    .where(Account.platform_id == api_live.platform_id, Account.livemode.is_(True))
                    .order_by(Account.id)
                )
            )
            test_accounts = list(
                db.scalars(
                    select(Account.id).where(
                        Account.platform_id == test.platform_id, Account.livemode.is_(False)
                    )
                )
            )

        hooks_url, deliveries = stack.enter_context(webhook_receiver())
        with runtime.database.unit_of_work() as db:
            for path in ("/a", "/b"):
                create_endpoint(
                    WebhookEndpointRepository(db, test),
                    runtime.secret_box,
                    EndpointChanges(url=hooks_url + path, enabled_events=["*"]),
                    # The receiver is on this machine: the operator's opt-in, as in the
                    # workers' environment below.
                    allow_private=True,
                )
        smtp = stack.enter_context(smtp_server())
        common = {
            "RELINK_SECRET_KEY": BENCH_SECRET_KEY,
            "RELINK_EMAIL_BACKEND": "smtp",
            "RELINK_SMTP_HOST": HOST,
            "RELINK_SMTP_PORT": str(smtp.port),
            "RELINK_SMTP_SECURITY": "none",
            "RELINK_OUTBOX_LEASE_SECONDS": "10",
            "RELINK_WEBHOOK_ALLOW_PRIVATE_NETWORKS": "true",
            "RELINK_RATE_LIMIT_LIVE_PER_SECOND": "100000",
            "RELINK_RATE_LIMIT_TEST_PER_SECOND": "100000",
            "RELINK_RATE_LIMIT_BURST": "100000",
        }
        for n in (1, 2):
            (root / f"web{n}").mkdir()
        webs = [stack.enter_context(relink_server(url, root / f"web{n}", **common)) for n in (1, 2)]
        worker_env = {**common, "RELINK_PUBLIC_URL": webs[0].url}
        workers = [start_worker(url, root / f"worker{n}", worker_env) for n in (1, 2)]
        stack.callback(stop_workers, workers)

        with runtime.database.unit_of_work() as db:
            enqueue_bulk_request(
                db,
                live,
                selection={"filter": {}},
                actor=f"user:{created.owner.id}",
                dedupe_key="scale-out",
            )

        def create_session(index: int) -> int:
            account_id, authorization_id = api_accounts[index]
            response = httpx.post(
                webs[index % 2].url + "/v1/financial_connections/sessions",
                auth=(api_platform.live_secret_key, ""),
                data={
                    "relink_options[authorization]": authorization_id,
                    "relink_options[account]": account_id,
                    "permissions[]": "payment_method",
                    "ui_mode": "hosted",
                    "hosted[delivery_method]": "email",
                },
                timeout=60,
            )
            return response.status_code

        expiry = int(time.time()) + 60 * 86400

        def make_event(index: int) -> int:
            response = httpx.post(
                webs[index % 2].url
                + f"/v1/test_helpers/financial_connections/accounts/{test_accounts[index]}/update_account_numbers",
                auth=(created.test_secret_key, ""),
                data={"expected_expiry_date": str(expiry)},
                timeout=60,
            )
            return response.status_code

        # The API calls go on while the workers drain the bulk request's emails.
        pool = stack.enter_context(ThreadPoolExecutor(max_workers=16))
        calls = [pool.submit(create_session, index) for index in range(api)]
        calls += [pool.submit(make_event, index) for index in range(events)]

        expected_emails = bulk + api
        expected_deliveries = 2 * events
        emails: Counter[bytes] = Counter()
        killed_after = -1
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for _sender, _recipients, content in smtp.take():
                found = MESSAGE_ID.search(content)
                emails[found.group(1) if found else b"?"] += 1
            if killed_after < 0 and len(emails) >= expected_emails // 2:
                killed_after = len(emails)
                workers[0].send_signal(signal.SIGKILL)
                workers[0].wait()
                workers[0] = start_worker(url, root / "worker3", worker_env)
            if len(emails) >= expected_emails and len(deliveries) >= expected_deliveries:
                break
            if any(call.done() and call.result() != 200 for call in calls):
                break  # reported below
            time.sleep(0.2)
        refused = [status for status in (call.result() for call in calls) if status != 200]
        if refused:
            raise SystemExit(f"{len(refused)} API calls were refused: {Counter(refused)}")
        # Every message has arrived, but the rows the killed worker had sent and not yet
        # recorded are still pending: they settle once their lease runs out and a live
        # worker claims them again (and may send them again, with the same Message-ID).
        # Nothing is lost when every row ends ``done``, so wait for that, up to the deadline.
        pending = count_unsettled(runtime, [created.platform.id, api_platform.platform.id])
        while pending and time.monotonic() < deadline:
            time.sleep(0.5)
            pending = count_unsettled(runtime, [created.platform.id, api_platform.platform.id])
        time.sleep(1.0)  # a late duplicate would show up now
        for _sender, _recipients, content in smtp.take():
            found = MESSAGE_ID.search(content)
            emails[found.group(1) if found else b"?"] += 1
        runtime.database.engine.dispose()
        return Result(
            expected_emails=expected_emails,
            unique_emails=len(emails),
            duplicate_emails=sum(emails.values()) - len(emails),
            expected_deliveries=expected_deliveries,
            unique_deliveries=len(deliveries),
            duplicate_deliveries=sum(deliveries.values()) - len(deliveries),
            killed_after_emails=killed_after,
            pending_outbox_rows=pending,
            seconds=time.monotonic() - started,
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--bulk", type=int, default=20_000)
    parser.add_argument("--api", type=int, default=2_000)
    parser.add_argument("--events", type=int, default=2_000)
    parser.add_argument(
        "--smoke", action="store_true", help="600 bulk + 60 API sessions, 60 events"
    )
    parser.add_argument("--repeat", type=int, default=1, help="accepted for `python -m bench`")
    parser.add_argument("--json", action="store_true", help="one JSON object per figure")
    args = parser.parse_args(argv)
    if args.smoke:
        args.bulk, args.api, args.events = 600, 60, 60
    result = run_scenario(args.bulk, args.api, args.events)
    line = (
        f"scale out [postgresql] bulk={args.bulk} api={args.api} events={args.events}: "
        f"emails {result.unique_emails}/{result.expected_emails} unique, {result.duplicate_emails} replayed | "
        f"webhooks {result.unique_deliveries}/{result.expected_deliveries} unique, "
        f"{result.duplicate_deliveries} replayed | worker killed after {result.killed_after_emails} emails | "
        f"outbox left {result.pending_outbox_rows} | {result.seconds:.1f} s | "
        f"{'nothing lost' if result.nothing_lost else 'LOST WORK'}"
    )
    figure = Figure(
        benchmark="scale out",
        variant="2 web + 2 workers, postgresql",
        n=result.expected_emails,
        unit="s",
        value=result.seconds,
        floor=None,
        ratio=None,
        metrics={
            "nothing_lost": result.nothing_lost,
            "expected_emails": result.expected_emails,
            "unique_emails": result.unique_emails,
            "replayed_emails": result.duplicate_emails,
            "expected_webhooks": result.expected_deliveries,
            "unique_webhooks": result.unique_deliveries,
            "replayed_webhooks": result.duplicate_deliveries,
            "killed_after_emails": result.killed_after_emails,
            "outbox_left": result.pending_outbox_rows,
        },
        line=line,
    )
    emit([figure], as_json=args.json)
    return 0 if result.nothing_lost else 1


if __name__ == "__main__":
    sys.exit(main())
