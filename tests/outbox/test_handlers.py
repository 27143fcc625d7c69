"""The handler contract: backoff, and how batched and laned handlers behave as plain ones."""

from __future__ import annotations

import datetime as dt

from relink.kit import clock
from relink.models import OutboxMessage
from relink.outbox.handlers import Batched, BatchResult, Job, Laned, backoff
from relink.runtime import Runtime


def _job(runtime: Runtime, payload: dict[str, object]) -> Job:
    now = clock.now()
    message = OutboxMessage(
        id="obx_test", kind="test.kind", payload=payload, attempts=1, run_after=now, created_at=now
    )
    return Job(runtime, message, "worker-a/1")


def test_backoff_doubles_with_each_attempt_within_full_jitter() -> None:
    base = dt.timedelta(seconds=10)
    for attempts, ceiling in [(0, 10), (1, 10), (2, 20), (4, 80)]:
        waited = backoff(attempts, base=base).total_seconds()
        assert ceiling / 2 <= waited <= ceiling


def test_backoff_stops_growing_at_its_cap() -> None:
    waited = backoff(30, base=dt.timedelta(seconds=10), cap=dt.timedelta(minutes=1))
    assert dt.timedelta(seconds=30) <= waited <= dt.timedelta(minutes=1)


def test_a_job_is_held_unless_the_dispatcher_says_otherwise(runtime: Runtime) -> None:
    assert _job(runtime, {}).held() is True


def test_a_batched_handler_called_with_one_job_runs_its_single_row_handler(
    runtime: Runtime,
) -> None:
    ran: list[str] = []
    handler = Batched(lambda job: ran.append(job.message.id), lambda jobs: lambda: BatchResult({}))
    handler(_job(runtime, {}))
    assert ran == ["obx_test"]


def test_a_laned_handler_runs_its_handler_in_the_lane_of_its_payload_key(
    runtime: Runtime,
) -> None:
    ran: list[str] = []
    handler = Laned(lambda job: ran.append(job.message.id), lane_key="endpoint_id")
    job = _job(runtime, {"endpoint_id": "we_1"})
    handler(job)
    assert (handler.lane(job.message), ran) == ("we_1", ["obx_test"])
