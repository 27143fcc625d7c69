"""Benchmark: email delivery (spec 60 "email delivery").

Builds its own data: a live-mode platform with N eligible accounts (holders with an
email) and one queued relink email each, made by the real bulk request
(:func:`relink.bulk_requests.service.request_relinks`: pending hosted email sessions and their
``email.relink_request`` outbox rows). Then it times the real path: the worker's
dispatcher (:class:`relink.outbox.dispatcher.OutboxDispatcher` with the registered
:data:`relink.worker.HANDLERS`, as ``relink worker`` runs it) draining the
queue through the SMTP backend (``RELINK_EMAIL_BACKEND=smtp``): claim, render, send,
timeline, delivery state, outbox bookkeeping.

The SMTP server is aiosmtpd on 127.0.0.1 in its own process, with a handler that counts
and keeps what it received. The floor, in the same run: one smtplib connection sending
the very messages the server received from the real run (already rendered) to the same
server. Prints, per engine, the median of ``--repeat`` runs: emails/s, the floor's
emails/s and the ratio (budget: >= 0.8 of the floor).

    python -m bench.email_delivery                  # N=10,000, PostgreSQL and SQLite
    python -m bench.email_delivery --smoke          # tiny N, one run: a quick check
    python -m bench.email_delivery --engines sqlite --emails 2000 --json
"""

from __future__ import annotations

import argparse
import multiprocessing
import smtplib
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from sqlalchemy import select

from bench._book import ACTOR, seed_platform
from bench._common import HOST, Figure, database, emit, free_port, log_to_file, make_runtime
from relink.bulk_requests.service import request_relinks
from relink.email.backends import backend_for
from relink.institutions.service import register_institutions
from relink.kit.heap import freeze_startup_heap
from relink.models import Account
from relink.outbox.dispatcher import OutboxDispatcher
from relink.runtime import Runtime
from relink.worker import HANDLERS

Message = tuple[str, list[str], bytes]


# -- the SMTP server, in its own process ----------------------------------------------------


def _smtp_server(port: int, control: Connection) -> None:
    """Child process: aiosmtpd on ``port``; answers "take" with what it received since."""
    import threading

    from aiosmtpd.controller import Controller

    received: list[Message] = []
    lock = threading.Lock()

    class Counting:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            with lock:
                received.append(
                    (envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content)
                )
            return "250 2.0.0 accepted"

    controller = Controller(Counting(), hostname=HOST, port=port, server_hostname="bench")
    controller.start()
    control.send("ready")
    try:
        while (command := control.recv()) != "stop":
            if command == "take":
                with lock:
                    taken = list(received)
                    received.clear()
                control.send(taken)
    finally:
        controller.stop()


class SmtpServer:
    def __init__(self, port: int, control: Connection) -> None:
        self.port = port
        self.control = control

    def take(self) -> list[Message]:
        """What the server received since the last call."""
        self.control.send("take")
        taken: list[Message] = self.control.recv()
        return taken


@contextmanager
def smtp_server() -> Iterator[SmtpServer]:
    port = free_port()
    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    process = context.Process(target=_smtp_server, args=(port, theirs), daemon=True)
    process.start()
    try:
        if not ours.poll(30) or ours.recv() != "ready":
            raise SystemExit("the SMTP server did not start")
        yield SmtpServer(port, ours)
    finally:
        ours.send("stop")
        process.join(timeout=10)
        if process.is_alive():
            process.kill()


# -- runs ------------------------------------------------------------------------------


def queue_emails(runtime: Runtime, emails: int) -> None:
    """A platform with ``emails`` eligible accounts and one queued relink email each."""
    scope = seed_platform(runtime, emails)
    selection = select(Account).where(
        Account.platform_id == scope.platform_id, Account.livemode == scope.livemode
    )
    with runtime.database.unit_of_work() as db:
        result = request_relinks(db, scope, runtime, selection, actor=ACTOR)
    if result.created != emails:
        raise SystemExit(f"expected {emails} sessions, created {result.created}: {result}")


def run_real(runtime: Runtime) -> float:
    dispatcher = OutboxDispatcher(runtime, HANDLERS)
    freeze_startup_heap()  # as `relink worker` does once it has started
    started = time.perf_counter()
    dispatcher.drain(max_rounds=1_000_000)
    return time.perf_counter() - started


def run_floor(port: int, messages: list[Message]) -> float:
    started = time.perf_counter()
    with smtplib.SMTP(HOST, port, local_hostname="bench") as connection:
        for mail_from, rcpt_tos, raw in messages:
            connection.sendmail(mail_from, rcpt_tos, raw)
    return time.perf_counter() - started


def bench_engine(engine: str, emails: int, repeat: int, server: SmtpServer) -> Figure:
    reals, floors = [], []
    with database(engine) as url, tempfile.TemporaryDirectory() as folder:
        var_dir = Path(folder)
        seeding = make_runtime(url, var_dir)
        with seeding.database.unit_of_work() as db:
            register_institutions(db)
        runtime = make_runtime(
            url,
            var_dir,
            email_backend="smtp",
            smtp_host=HOST,
            smtp_port=server.port,
            smtp_security="none",
            public_url="https://relink.example",
        )
        try:
            for _ in range(repeat):
                queue_emails(seeding, emails)
                server.take()
                reals.append(run_real(runtime))
                sent = server.take()
                if len(sent) != emails:
                    raise SystemExit(f"expected {emails} emails at the server, got {len(sent)}")
                floors.append(run_floor(server.port, sent))
                if len(server.take()) != emails:
                    raise SystemExit("the floor's emails did not all arrive")
        finally:
            backend_for(runtime).close()
            runtime.database.engine.dispose()
            seeding.database.engine.dispose()
    real, floor = statistics.median(reals), statistics.median(floors)
    rate, floor_rate = emails / real, emails / floor
    return Figure(
        benchmark="email delivery",
        variant=engine,
        n=emails,
        unit="emails/s",
        value=rate,
        floor=floor_rate,
        ratio=floor / real,
        runs=[emails / seconds for seconds in reals],
        line=(
            f"email delivery [{engine}] N={emails:,}: {rate:,.0f} emails/s | "
            f"floor {floor_rate:,.0f} emails/s | ratio {floor / real:.2f}"
        ),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--emails", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--engines", default="postgresql,sqlite")
    parser.add_argument("--smoke", action="store_true", help="tiny N, one run: a quick check")
    parser.add_argument("--json", action="store_true", help="one JSON object per figure")
    args = parser.parse_args(argv)
    emails, repeat = (30, 1) if args.smoke else (args.emails, args.repeat)
    with tempfile.TemporaryDirectory() as logs, smtp_server() as server:
        log = log_to_file(Path(logs) / "relink.log")
        try:
            for engine in [e.strip() for e in args.engines.split(",") if e.strip()]:
                emit([bench_engine(engine, emails, repeat, server)], as_json=args.json)
        finally:
            log.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
