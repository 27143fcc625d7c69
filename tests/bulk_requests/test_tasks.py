"""Bulk relink request jobs: queued once per submission, run in committed batches with
progress, resumable after a crash without duplicates."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from sqlalchemy import func, select, update

from relink.bulk_requests.service import (
    BULK_REQUEST,
    MAX_SELECTED_IDS,
    BulkSelectionInvalid,
    enqueue_bulk_request,
    job_progress,
)
from relink.bulk_requests.tasks import run_bulk_job
from relink.kit.clock import FrozenClock
from relink.kit.errors import ResourceMissing
from relink.models import BulkJobStatus, BulkRelinkJob, OutboxMessage, OutboxStatus, Session
from relink.outbox.dispatcher import OutboxDispatcher
from relink.outbox.handlers import DEFAULT_MAX_ATTEMPTS, GiveUp, RetryLater
from relink.runtime import Runtime
from relink.worker import HANDLERS
from tests.bulk_requests.bulk_factories import ACTOR, build_cases, bulk_scope, case_named
from tests.eligibility import cases
from tests.eligibility.conftest import book, frozen_clock
from tests.eligibility.factories import Book

__all__ = ["book", "frozen_clock"]  # fixtures used by this module

ELIGIBLE = case_named("inactive_relink_required")
HEALTHY = case_named("healthy")


class SimulatedCrash(BaseException):
    """Stands for the process dying: nothing after it runs, not even error handling."""


def _queue(book: Book, selection: dict[str, object], dedupe_key: str = "form-1") -> str:
    with book.runtime.database.unit_of_work() as db:
        job = enqueue_bulk_request(
            db, bulk_scope(book), selection=selection, actor=ACTOR, dedupe_key=dedupe_key
        )
        return job.id


def _job(book: Book, job_id: str) -> BulkRelinkJob:
    with book.runtime.database.read_only() as db:
        return job_progress(db, bulk_scope(book), job_id)


def _sessions_per_account(book: Book) -> dict[str, int]:
    with book.runtime.database.read_only() as db:
        rows = db.execute(
            select(Session.relink_account_id, func.count())
            .where(Session.platform_id == book.platform_id, Session.created_by == ACTOR)
            .group_by(Session.relink_account_id)
        )
        return {str(account_id): count for account_id, count in rows}


def _job_outbox_rows(book: Book, job_id: str) -> list[OutboxMessage]:
    with book.runtime.database.read_only() as db:
        return list(
            db.scalars(
                select(OutboxMessage)
                .where(OutboxMessage.kind == BULK_REQUEST)
                .where(OutboxMessage.dedupe_key.startswith(f"bulkjob:{job_id}"))
            )
        )


def test_job_runs_in_batches_committing_progress_after_each(book: Book) -> None:
    build_cases(book, (ELIGIBLE,) * 5 + (HEALTHY,))
    job_id = _queue(book, {"filter": {}})
    seen: list[tuple[int, int, int | None]] = []

    def committed_progress(job: BulkRelinkJob) -> None:
        seen.append((job.processed, job.created, job.total))

    run_bulk_job(book.runtime, job_id, worker_id="w1", batch_size=2, after_batch=committed_progress)
    job = _job(book, job_id)
    assert seen == [(2, 2, 6), (4, 4, 6), (6, 5, 6)]
    assert (job.status, job.processed, job.created, job.skipped) == (
        BulkJobStatus.succeeded,
        6,
        5,
        {"not_broken": 1},
    )
    assert job.finished_at is not None


def test_outbox_worker_runs_the_queued_job(book: Book) -> None:
    built = build_cases(book, (ELIGIBLE,) * 2)
    job_id = _queue(book, {"account_ids": [a.id for a, _ in built]})
    OutboxDispatcher(book.runtime, {BULK_REQUEST: HANDLERS[BULK_REQUEST]}).drain()
    job = _job(book, job_id)
    assert (job.status, job.created) == (BulkJobStatus.succeeded, 2)
    assert [row.status for row in _job_outbox_rows(book, job_id)] == [OutboxStatus.done]


def test_double_submit_with_the_same_dedupe_key_queues_one_job(book: Book) -> None:
    build_cases(book, (ELIGIBLE,))
    first = _queue(book, {"filter": {"eligible": True}}, dedupe_key="form-7")
    second = _queue(book, {"filter": {"eligible": True}}, dedupe_key="form-7")
    assert first == second
    assert len(_job_outbox_rows(book, first)) == 1


def test_another_dedupe_key_queues_another_job(book: Book) -> None:
    first = _queue(book, {"filter": {}}, dedupe_key="form-1")
    second = _queue(book, {"filter": {}}, dedupe_key="form-2")
    assert first != second


def test_resumed_job_after_a_crash_mid_batch_creates_no_duplicates(
    book: Book, frozen_clock: FrozenClock
) -> None:
    built = build_cases(book, (ELIGIBLE,) * 5)
    job_id = _queue(book, {"filter": {}})

    def crash_in_second_batch(job: BulkRelinkJob) -> None:
        if job.processed > 2:
            raise SimulatedCrash

    with pytest.raises(SimulatedCrash):
        run_bulk_job(
            book.runtime, job_id, worker_id="w1", batch_size=2, after_batch=crash_in_second_batch
        )
    assert (_job(book, job_id).processed, len(_sessions_per_account(book))) == (2, 2)

    frozen_clock.advance(seconds=book.runtime.settings.outbox_lease_seconds + 1)
    run_bulk_job(book.runtime, job_id, worker_id="w2", batch_size=2)
    job = _job(book, job_id)
    assert (job.status, job.processed, job.created) == (BulkJobStatus.succeeded, 5, 5)
    assert _sessions_per_account(book) == {a.id: 1 for a, _ in built}


def test_job_leased_by_a_runner_is_not_taken_by_another_before_the_lease_ends(
    book: Book,
) -> None:
    build_cases(book, (ELIGIBLE,) * 3)
    job_id = _queue(book, {"filter": {}})

    def crash_in_second_batch(job: BulkRelinkJob) -> None:
        if job.processed > 1:
            raise SimulatedCrash

    with pytest.raises(SimulatedCrash):
        run_bulk_job(
            book.runtime, job_id, worker_id="w1", batch_size=1, after_batch=crash_in_second_batch
        )
    with pytest.raises(RetryLater):
        run_bulk_job(book.runtime, job_id, worker_id="w2", batch_size=1)
    assert _job(book, job_id).processed == 1


def test_a_runner_leases_its_job_and_outbox_row_for_the_outbox_lease_seconds(
    book: Book, frozen_clock: FrozenClock
) -> None:
    build_cases(book, (ELIGIBLE,))
    job_id = _queue(book, {"filter": {}})
    [row] = _job_outbox_rows(book, job_id)
    with book.runtime.database.unit_of_work() as db:
        db.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == row.id)
            .values(locked_by="w1", locked_until=frozen_clock.at)
        )
    runtime = Runtime.from_settings(
        book.runtime.settings.model_copy(update={"outbox_lease_seconds": 45})
    )
    leased_until: list[dt.datetime | None] = []
    try:
        run_bulk_job(
            runtime,
            job_id,
            worker_id="w1",
            outbox_message_id=row.id,
            after_batch=lambda job: leased_until.append(job.locked_until),
        )
    finally:
        runtime.database.engine.dispose()
    lease_end = frozen_clock.at + dt.timedelta(seconds=45)
    assert leased_until == [lease_end]
    [renewed] = _job_outbox_rows(book, job_id)
    assert renewed.locked_until == lease_end


def test_long_job_hands_over_to_a_continuation_outbox_row(book: Book) -> None:
    build_cases(book, (ELIGIBLE,) * 3)
    job_id = _queue(book, {"filter": {}})
    run_bulk_job(book.runtime, job_id, worker_id="w1", batch_size=1, slice_seconds=0)
    assert (_job(book, job_id).status, _job(book, job_id).processed) == (BulkJobStatus.running, 1)
    OutboxDispatcher(book.runtime, {BULK_REQUEST: HANDLERS[BULK_REQUEST]}).drain()
    assert (_job(book, job_id).status, _job(book, job_id).created) == (BulkJobStatus.succeeded, 3)


def test_selection_must_be_ids_or_a_filter(book: Book) -> None:
    with pytest.raises(BulkSelectionInvalid), book.runtime.database.unit_of_work() as db:
        enqueue_bulk_request(
            db, bulk_scope(book), selection={"everything": True}, actor=ACTOR, dedupe_key="x"
        )


def test_job_progress_of_another_scope_is_missing(book: Book) -> None:
    job_id = _queue(book, {"filter": {}})
    with pytest.raises(ResourceMissing), book.runtime.database.read_only() as db:
        job_progress(db, bulk_scope(book, livemode=True), job_id)


def test_failed_batch_keeps_the_error_on_the_job_and_releases_it_for_a_retry(book: Book) -> None:
    build_cases(book, (ELIGIBLE,) * 2)
    job_id = _queue(book, {"filter": {}})

    def fail(job: BulkRelinkJob) -> None:
        raise RuntimeError("the database went away")

    with pytest.raises(RuntimeError):
        run_bulk_job(book.runtime, job_id, worker_id="w1", after_batch=fail)
    failed = _job(book, job_id)
    assert (failed.error, failed.locked_by) == ("RuntimeError: the database went away", None)
    run_bulk_job(book.runtime, job_id, worker_id="w2")
    assert (_job(book, job_id).status, _job(book, job_id).created) == (BulkJobStatus.succeeded, 2)


def test_job_failing_on_its_last_attempt_is_marked_failed(book: Book) -> None:
    build_cases(book, (ELIGIBLE,))
    job_id = _queue(book, {"filter": {}})

    def fail(job: BulkRelinkJob) -> None:
        raise RuntimeError("still broken")

    with pytest.raises(GiveUp):
        run_bulk_job(
            book.runtime, job_id, worker_id="w1", attempts=DEFAULT_MAX_ATTEMPTS, after_batch=fail
        )
    job = _job(book, job_id)
    assert (job.status, job.created) == (BulkJobStatus.failed, 0)
    assert job.finished_at is not None


def test_live_mode_job_requests_live_accounts(book: Book) -> None:
    with book.builder() as builder:
        account = cases.live_mode_email_of_no_team_user(builder)
    with book.runtime.database.unit_of_work() as db:
        job = enqueue_bulk_request(
            db,
            bulk_scope(book, livemode=True),
            selection={"account_ids": [account.id]},
            actor=ACTOR,
            dedupe_key="live-form",
        )
    run_bulk_job(book.runtime, job.id, worker_id="w1")
    assert _sessions_per_account(book) == {account.id: 1}


def test_account_ids_selection_is_stored_sorted_without_duplicates(book: Book) -> None:
    job_id = _queue(book, {"account_ids": ["fca_b", "fca_a", "fca_b"]})
    assert _job(book, job_id).selection == {"account_ids": ["fca_a", "fca_b"]}


@pytest.mark.parametrize(
    "account_ids",
    [[], "fca_a", [1], ["fca_x"] * (MAX_SELECTED_IDS + 1)],
    ids=["empty", "not-a-list", "not-ids", "too-many"],
)
def test_account_ids_selection_must_be_a_reasonable_list_of_ids(
    book: Book, account_ids: object
) -> None:
    with pytest.raises(BulkSelectionInvalid), book.runtime.database.unit_of_work() as db:
        enqueue_bulk_request(
            db,
            bulk_scope(book),
            selection={"account_ids": account_ids},
            actor=ACTOR,
            dedupe_key="x",
        )


def test_simultaneous_double_submit_queues_one_job(book: Book) -> None:
    start = threading.Barrier(2)
    job_ids: list[str] = []

    def submit() -> None:
        start.wait(10)
        job_ids.append(_queue(book, {"filter": {}}, dedupe_key="same-click"))

    threads = [threading.Thread(target=submit) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(job_ids) == 2
    assert job_ids[0] == job_ids[1]
    assert len(_job_outbox_rows(book, job_ids[0])) == 1
