"""The worker as real processes: SIGKILL mid-batch loses nothing; two workers deliver once."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import cast

import pytest
import stripe
from sqlalchemy import Table, func, select, update

from relink.config import Settings
from relink.events.service import emit
from relink.kit.provenance import EventContext
from relink.models import (
    EmailDelivery,
    EventType,
    OutboxMessage,
    OutboxStatus,
    SessionTimelineEntry,
)
from relink.platforms.service import NewPlatform
from relink.runtime import Runtime
from relink.tenancy import Scope
from tests.email.factories import eligible_account, request_relink_email
from tests.email.smtp_server import SmtpServer, smtp_server
from tests.receivers import Receiver, webhook_receiver

RELINK = str(Path(sys.executable).with_name("relink"))


@pytest.fixture(autouse=True)
def _banks_stay_healthy(runtime: Runtime) -> Iterator[None]:
    """The workers these tests start also run the health check of the sandbox banks; on a
    loaded machine its HTTP calls to the test server can time out, which marks the banks
    in trouble for every later test of the session. Delivery is what is tested here."""
    yield
    from relink.models import Institution

    with runtime.database.unit_of_work() as db:
        db.execute(
            update(Institution)
            .where(Institution.livemode.is_(False))
            .values(health="active", health_since=None)
        )


@contextmanager
def scans_put_off(runtime: Runtime, keep: Collection[str] = ()) -> Iterator[None]:
    """The scheduled scans (but those in ``keep``) wait a day, then are as they were.

    A worker runs every due scan before it drains a row, and the lifecycle scan visits
    every platform the test session has made (thousands late in a run: a minute and more
    on a loaded machine). Tests of delivery by worker processes put them off."""
    from relink.automatic_relink.tasks import AUTOMATIC_RELINK_SCAN
    from relink.institutions.incidents import INCIDENT_SCAN
    from relink.kit import clock
    from relink.lifecycle.tasks import INSTITUTION_HEALTH_SCAN, LIFECYCLE_SCAN
    from relink.models import ScheduledScan
    from relink.sessions.rollup import ROLLUP_SCAN

    names = {
        LIFECYCLE_SCAN,
        INSTITUTION_HEALTH_SCAN,
        INCIDENT_SCAN,
        ROLLUP_SCAN,
        AUTOMATIC_RELINK_SCAN,
    } - set(keep)
    table = cast(Table, ScheduledScan.__table__)
    with runtime.database.unit_of_work() as db:
        before = [dict(row._mapping) for row in db.execute(select(table))]
        known = {row["name"] for row in before}
        later = clock.now() + dt.timedelta(days=1)
        for name in sorted(names - known):
            db.add(ScheduledScan(name=name, next_run_at=later))
        db.flush()
        db.execute(
            update(ScheduledScan).where(ScheduledScan.name.in_(names)).values(next_run_at=later)
        )
    try:
        yield
    finally:
        with runtime.database.unit_of_work() as db:
            db.execute(table.delete())
            if before:
                db.execute(table.insert(), before)


@pytest.fixture(autouse=True)
def _scans_not_due(runtime: Runtime) -> Iterator[None]:
    """Delivery is what is tested here: the scans are put off."""
    with scans_put_off(runtime):
        yield


def _start_worker(
    settings: Settings,
    tmp_path: Path,
    name: str,
    lease: str = "3",
    concurrency: str = "5",
    **extra_env: str,
) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "RELINK_DATABASE_URL": settings.database_url,
        "RELINK_SECRET_KEY": settings.resolved_secret_key,
        "RELINK_PUBLIC_URL": settings.public_url,
        "RELINK_VAR_DIR": str(tmp_path / name),
        "RELINK_OUTBOX_LEASE_SECONDS": lease,
        # The receiver is on this machine: the operator's opt-in.
        "RELINK_WEBHOOK_ALLOW_PRIVATE_NETWORKS": "true",
        **extra_env,
    }
    return subprocess.Popen(
        [RELINK, "worker", "--concurrency", concurrency],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _emit_events(
    runtime: Runtime, platform: NewPlatform, count: int, receiver: Receiver, client_url: str
) -> list[str]:
    from relink.webhooks.repository import WebhookEndpointRepository
    from relink.webhooks.service import EndpointChanges, create_endpoint

    scope = Scope(platform.platform.id, False)
    with runtime.database.unit_of_work() as session:
        create_endpoint(
            WebhookEndpointRepository(session, scope),
            runtime.secret_box,
            EndpointChanges(url=receiver.url, enabled_events=["*"]),
            allow_private=True,
        )
        session.flush()
        event_ids = [
            emit(
                session,
                scope,
                EventType.account_refreshed_balance,
                {"id": f"fca_test{index}", "object": "financial_connections.account"},
                EventContext(),
            ).id
            for index in range(count)
        ]
    return event_ids


def _delivered(receiver: Receiver) -> Counter[str]:
    return Counter(json.loads(d.body)["id"] for d in receiver.deliveries)


def _delivery_states(runtime: Runtime, session_ids: list[str]) -> set[str]:
    with runtime.database.read_only() as db:
        states = db.scalars(
            select(EmailDelivery.state).where(EmailDelivery.session_id.in_(session_ids))
        )
        return {str(state) for state in states}


def _timeline_count(runtime: Runtime, session_ids: list[str], kind: str) -> int:
    with runtime.database.read_only() as db:
        return int(
            db.scalar(
                select(func.count()).where(
                    SessionTimelineEntry.session_id.in_(session_ids),
                    SessionTimelineEntry.kind == kind,
                )
            )
            or 0
        )


def _wait_for(condition: object, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise AssertionError("timed out")


def test_a_worker_killed_mid_batch_loses_no_webhook(
    settings: Settings, runtime: Runtime, platform: NewPlatform, tmp_path: Path
) -> None:
    with webhook_receiver(delay=0.05) as receiver:
        event_ids = _emit_events(runtime, platform, 40, receiver, settings.public_url)
        first = _start_worker(settings, tmp_path, "first")
        try:
            # A worker's first round runs every due scan before its first outbox batch;
            # over the suite's shared database (hundreds of platforms by then) that
            # alone took over a minute in a full run.
            _wait_for(lambda: len(receiver.deliveries) >= 8, 180)
        finally:
            first.send_signal(signal.SIGKILL)
            first.wait(10)
        assert len(_delivered(receiver)) < len(event_ids), "the kill came too late to test anything"
        second = _start_worker(settings, tmp_path, "second")
        try:
            _wait_for(lambda: set(_delivered(receiver)) >= set(event_ids), 90)
        finally:
            second.terminate()
            second.wait(10)
    delivered = _delivered(receiver)
    assert set(delivered) >= set(event_ids)
    # At least once: only rows claimed by the killed worker may arrive twice.
    assert sum(delivered[e] for e in event_ids) - len(event_ids) <= 5


def test_two_workers_deliver_each_event_once_per_endpoint(
    settings: Settings, runtime: Runtime, platform: NewPlatform, tmp_path: Path
) -> None:
    with webhook_receiver(delay=0.01) as receiver:
        event_ids = _emit_events(runtime, platform, 60, receiver, settings.public_url)
        workers = [_start_worker(settings, tmp_path, f"w{n}") for n in range(2)]
        try:
            _wait_for(lambda: set(_delivered(receiver)) >= set(event_ids), 90)
            time.sleep(1)  # let any duplicate show up
        finally:
            for worker in workers:
                worker.terminate()
            for worker in workers:
                worker.wait(10)
    delivered = _delivered(receiver)
    assert {e: delivered[e] for e in event_ids} == dict.fromkeys(event_ids, 1)


def _start_smtp_worker(
    settings: Settings, tmp_path: Path, name: str, smtp: SmtpServer, **env: str
) -> subprocess.Popen[bytes]:
    return _start_worker(
        settings,
        tmp_path,
        name,
        lease=env.pop("lease", "2"),
        concurrency=env.pop("concurrency", "20"),
        RELINK_EMAIL_BACKEND="smtp",
        RELINK_SMTP_HOST=smtp.host,
        RELINK_SMTP_PORT=str(smtp.port),
        RELINK_SMTP_SECURITY="none",
        RELINK_SMTP_CONNECTIONS="1",
        # The accounts these tests break at once would be an incident at their bank, and
        # its email to the owner would be counted with the relink emails: no incidents.
        RELINK_INCIDENT_MIN_ACCOUNTS="1000000",
        **env,
    )


def _request_relink_emails(
    client: stripe.StripeClient, platform: NewPlatform, count: int
) -> list[str]:
    return [
        request_relink_email(client, eligible_account(client, platform, last4=f"{n:04d}")).id
        for n in range(count)
    ]


def _message_ids(smtp: SmtpServer, platform: NewPlatform) -> Counter[str]:
    return Counter(str(r.message["Message-ID"]) for r in smtp.handler.to(platform.owner.email))


def test_two_workers_with_slow_smtp_replies_send_no_email_twice(
    settings: Settings,
    runtime: Runtime,
    client: stripe.StripeClient,
    platform: NewPlatform,
    tmp_path: Path,
) -> None:
    # Every reply takes 0.3 s over one connection: a claim of 20 rows is on the wire for
    # 6 s, three times the lease. The lease must cover the rows while they wait.
    session_ids = _request_relink_emails(client, platform, 30)
    with smtp_server() as smtp:
        smtp.handler.data_delay_seconds = 0.3
        workers = [_start_smtp_worker(settings, tmp_path, f"w{n}", smtp) for n in range(2)]
        try:
            _wait_for(lambda: len(_message_ids(smtp, platform)) >= len(session_ids), 120)
            _wait_for(lambda: _delivery_states(runtime, session_ids) == {"sent"}, 60)
        finally:
            for worker in workers:
                worker.terminate()
            for worker in workers:
                worker.wait(30)
    sent = _message_ids(smtp, platform)
    assert len(sent) == len(session_ids)
    assert [m for m, n in sent.items() if n > 1] == []
    assert _timeline_count(runtime, session_ids, "email_sent") == len(session_ids)


def _unit_stop_timeout() -> float:
    unit = Path(__file__).parents[1] / "deploy" / "relink-worker@.service"
    [line] = [line for line in unit.read_text().splitlines() if line.startswith("TimeoutStopSec=")]
    return float(line.split("=", 1)[1])


def _email_rows(runtime: Runtime, session_ids: list[str]) -> list[OutboxMessage]:
    keys = [f"email:relink:{session_id}" for session_id in session_ids]
    with runtime.database.read_only() as db:
        return list(db.scalars(select(OutboxMessage).where(OutboxMessage.dedupe_key.in_(keys))))


def test_at_sigterm_a_worker_hands_unstarted_emails_back_and_stops_within_its_unit_timeout(
    settings: Settings,
    runtime: Runtime,
    client: stripe.StripeClient,
    platform: NewPlatform,
    tmp_path: Path,
) -> None:
    # One connection, a second per reply: the claimed batch would take 40 s to send.
    session_ids = _request_relink_emails(client, platform, 40)
    with smtp_server() as smtp:
        smtp.handler.data_delay_seconds = 1.0
        worker = _start_smtp_worker(
            settings, tmp_path, "stopping", smtp, lease="60", concurrency="200"
        )
        try:
            _wait_for(lambda: len(_message_ids(smtp, platform)) >= 1, 60)
            worker.send_signal(signal.SIGTERM)
            returncode = worker.wait(_unit_stop_timeout())
        finally:
            if worker.poll() is None:
                worker.kill()
                worker.wait(10)
        sent = _message_ids(smtp, platform)
    assert returncode == 0
    rows = _email_rows(runtime, session_ids)
    done = [row for row in rows if row.status == OutboxStatus.done]
    handed_back = [row for row in rows if row.status == OutboxStatus.pending]
    # What went out is recorded; the rest is free for another worker at once, its
    # attempt not counted.
    assert len(done) == len(sent) < len(session_ids)
    assert len(handed_back) == len(session_ids) - len(sent)
    assert {(row.locked_by, row.locked_until, row.attempts) for row in handed_back} == {
        (None, None, 0)
    }


def test_relink_worker_lowers_its_cpu_priority_by_worker_nice(
    settings: Settings, tmp_path: Path
) -> None:
    # On a machine shared with `relink serve`, the web side's requests come first.
    expected = min(19, os.getpriority(os.PRIO_PROCESS, 0) + 7)
    worker = _start_worker(settings, tmp_path, "nice", RELINK_WORKER_NICE="7")
    try:
        deadline = time.monotonic() + 120
        priority = os.getpriority(os.PRIO_PROCESS, worker.pid)
        while priority != expected and worker.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
            priority = os.getpriority(os.PRIO_PROCESS, worker.pid)
        assert priority == expected
        assert worker.poll() is None  # still working, at its lower priority
    finally:
        worker.terminate()
        worker.wait(timeout=60)
