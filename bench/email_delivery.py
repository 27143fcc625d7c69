"""Benchmark: email delivery (spec 60 "email delivery").

Builds its own data — a live-mode platform with N eligible accounts and one queued
relink email each, made by the real bulk request — then times the real path: the
worker (:class:`relink.outbox.worker.OutboxDispatcher` with the registered handlers)
draining the queue to a local SMTP server (aiosmtpd on 127.0.0.1) through the SMTP
backend (render, send, timeline, delivery state, outbox bookkeeping).

The floor, in the same run: one smtplib connection sending the very messages the
server received from the real run (already rendered), to the same server. Prints the
median of ``--repeat`` runs: emails/s, the floor's emails/s and the ratio.

    python -m bench.email_delivery                 # N=10,000 on SQLite
    python -m bench.email_delivery --smoke         # tiny N, for a quick check
    python -m bench.email_delivery --engine postgresql --emails 2000
"""

from __future__ import annotations

import argparse
import smtplib
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from sqlalchemy import select

from bench.bulk_request import ACTOR, database, make_runtime, seed_platform
from relink.email.backends import backend_for
from relink.institutions.service import register_institutions
from relink.models import Account
from relink.outbox.registry import HANDLERS
from relink.outbox.worker import OutboxDispatcher
from relink.relink.bulk import request_relinks
from relink.runtime import Runtime
from relink.sessions.service import RELINK_EMAIL
from relink.tenancy import Scope

HOST = "127.0.0.1"


@dataclass
class Collector:
    """Keeps what the server accepted, as sent (envelope and raw bytes)."""

    received: list[tuple[str, list[str], bytes]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            self.received.append(
                (envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content)
            )
        return "250 2.0.0 accepted"


@contextmanager
def smtp_server() -> Iterator[tuple[int, Collector]]:
    import socket

    with socket.socket() as probe:
        probe.bind((HOST, 0))
        port = int(probe.getsockname()[1])
    collector = Collector()
    controller = Controller(collector, hostname=HOST, port=port, server_hostname="bench")
    controller.start()
    try:
        yield port, collector
    finally:
        controller.stop()


def queue_emails(runtime: Runtime, emails: int) -> Scope:
    scope = seed_platform(runtime, emails)
    selection = select(Account).where(
        Account.platform_id == scope.platform_id, Account.livemode == scope.livemode
    )
    with runtime.database.unit_of_work() as db:
        result = request_relinks(db, scope, runtime, selection, actor=ACTOR)
    if result.created != emails:
        raise SystemExit(f"expected {emails} sessions, created {result.created}: {result}")
    return scope


def run_real(runtime: Runtime) -> float:
    dispatcher = OutboxDispatcher(runtime, {RELINK_EMAIL: HANDLERS[RELINK_EMAIL]}, batch_size=200)
    started = time.perf_counter()
    dispatcher.drain(max_rounds=1_000_000)
    return time.perf_counter() - started


def run_floor(port: int, messages: list[tuple[str, list[str], bytes]]) -> float:
    started = time.perf_counter()
    with smtplib.SMTP(HOST, port, local_hostname="bench") as connection:
        for mail_from, rcpt_tos, raw in messages:
            connection.sendmail(mail_from, rcpt_tos, raw)
    return time.perf_counter() - started


def bench(engine: str, emails: int, repeat: int) -> dict[str, Any]:
    reals, floors = [], []
    with (
        database(engine) as url,
        tempfile.TemporaryDirectory() as var_dir,
        smtp_server() as (port, collector),
    ):
        seeding = make_runtime(url, Path(var_dir))
        with seeding.database.unit_of_work() as db:
            register_institutions(db)
        runtime = Runtime.from_settings(
            seeding.settings.model_copy(
                update={
                    "email_backend": "smtp",
                    "smtp_host": HOST,
                    "smtp_port": port,
                    "smtp_security": "none",
                    "public_url": "https://relink.example",
                }
            )
        )
        for _ in range(repeat):
            queue_emails(seeding, emails)
            collector.received.clear()
            reals.append(run_real(runtime))
            sent = list(collector.received)
            if len(sent) != emails:
                raise SystemExit(f"expected {emails} emails at the server, got {len(sent)}")
            floors.append(run_floor(port, sent))
        backend_for(runtime).close()
        runtime.database.engine.dispose()
        seeding.database.engine.dispose()
    real, floor = statistics.median(reals), statistics.median(floors)
    return {
        "engine": engine,
        "emails": emails,
        "rate": emails / real,
        "floor_rate": emails / floor,
        "ratio": floor / real,
    }


def report(result: dict[str, Any]) -> str:
    return (
        f"email delivery [{result['engine']}] N={result['emails']:,}: "
        f"{result['rate']:,.0f} emails/s | floor {result['floor_rate']:,.0f} emails/s | "
        f"ratio {result['ratio']:.2f}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--emails", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--engine", default="sqlite", choices=("sqlite", "postgresql"))
    parser.add_argument("--smoke", action="store_true", help="tiny N, one run: a quick check")
    args = parser.parse_args(argv)
    emails, repeat = (50, 1) if args.smoke else (args.emails, args.repeat)
    print(report(bench(args.engine, emails, repeat)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
