"""The worker as real processes: SIGKILL mid-batch loses nothing; two workers deliver once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from relink.config import Settings
from relink.events.service import EventContext, emit
from relink.platforms.service import NewPlatform
from relink.runtime import Runtime
from relink.tenancy import Scope
from tests.receivers import Receiver, webhook_receiver

RELINK = str(Path(sys.executable).with_name("relink"))


def _start_worker(
    settings: Settings, tmp_path: Path, name: str, lease: str = "3"
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
    }
    return subprocess.Popen(
        [RELINK, "worker", "--concurrency", "5"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _emit_events(
    runtime: Runtime, platform: NewPlatform, count: int, receiver: Receiver, client_url: str
) -> list[str]:
    from relink.events.repository import WebhookEndpointRepository
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
                "financial_connections.account.refreshed_balance",
                {"id": f"fca_test{index}", "object": "financial_connections.account"},
                EventContext(),
            ).id
            for index in range(count)
        ]
    return event_ids


def _delivered(receiver: Receiver) -> Counter[str]:
    return Counter(json.loads(d.body)["id"] for d in receiver.deliveries)


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
            _wait_for(lambda: len(receiver.deliveries) >= 8, 60)
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
