"""Running bulk relink request jobs (outbox kind ``relink.bulk_request``).

A job runs in keyset batches, each its own transaction: the batch's sessions, timeline
and outbox rows, the job's counters and its cursor (the last account id done) commit
together. A crash therefore loses at most the batch in flight, which rolled back, and
the job resumes after its cursor with no duplicate.

One runner at a time: a runner holds the outbox's lease (``RELINK_OUTBOX_LEASE_SECONDS``)
on the job, renewed every batch with the lease of its outbox row; another
worker finding a live lease retries later, and a crashed runner's lease expires. A
runner works for at most a time slice and then queues a continuation row, so no
outbox lease (nor the worker's other rows) waits on one long job.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable

import structlog
from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session as DbSession

from relink.bulk_requests.limits import DEFAULT_BATCH_SIZE
from relink.bulk_requests.preview import count_selected, merge_counts, next_batch_end
from relink.bulk_requests.service import BULK_REQUEST, request_batch, selection_accounts
from relink.kit import clock
from relink.models import BulkJobStatus, BulkRelinkJob
from relink.outbox.handlers import DEFAULT_MAX_ATTEMPTS, GiveUp, Job, RetryLater
from relink.outbox.lease import Lease
from relink.outbox.store import enqueue, renew
from relink.runtime import Runtime
from relink.tenancy import Scope, load_platform_scope

log = structlog.get_logger("relink.bulk")

SLICE_SECONDS = 20.0

# Called after each batch's writes, inside its transaction (tests simulate crashes).
BatchHook = Callable[[BulkRelinkJob], None]


def run_bulk_request(job: Job) -> None:
    """The outbox handler: run (or resume) the job named in the payload."""
    run_bulk_job(
        job.runtime,
        str(job.message.payload["job_id"]),
        worker_id=job.worker_id,
        outbox_message_id=job.message.id,
        attempts=job.message.attempts,
    )


def _scope_of(db: DbSession, job: BulkRelinkJob) -> Scope:
    return load_platform_scope(db, job.platform_id, job.livemode)


def _take_lease(db: DbSession, job_id: str, worker_id: str, lease: Lease) -> BulkRelinkJob | None:
    """Lease the job to this worker (again, if it already holds it); None if it is
    finished. Raises RetryLater while another live runner holds it."""
    now = clock.now()
    claimed = db.execute(
        lease.take(BulkRelinkJob, worker_id, now, again=True)
        .where(
            BulkRelinkJob.id == job_id,
            BulkRelinkJob.status.in_((BulkJobStatus.queued, BulkJobStatus.running)),
        )
        .values(status=BulkJobStatus.running)
    )
    job = db.scalars(
        select(BulkRelinkJob)
        .where(BulkRelinkJob.id == job_id)
        .execution_options(populate_existing=True)
    ).first()
    if job is None or job.status in (BulkJobStatus.succeeded, BulkJobStatus.failed):
        return None
    if not claimed.rowcount:  # type: ignore[attr-defined]
        wait = (job.locked_until or now) - now
        raise RetryLater(
            f"bulk job {job_id} is being run by {job.locked_by}",
            delay=max(wait, dt.timedelta(seconds=1)),
        )
    return job


def _renew_outbox_lease(
    db: DbSession, message_id: str | None, worker_id: str, lease: Lease
) -> None:
    if message_id is None:
        return
    renew(db, [message_id], worker_id, lease)


def run_bulk_job(
    runtime: Runtime,
    job_id: str,
    *,
    worker_id: str,
    batch_size: int = DEFAULT_BATCH_SIZE,
    slice_seconds: float = SLICE_SECONDS,
    outbox_message_id: str | None = None,
    attempts: int = 1,
    after_batch: BatchHook | None = None,
) -> BulkRelinkJob | None:
    """Run the job batch by batch, committing each; returns the job as last committed
    (None if it does not exist). Stops after ``slice_seconds`` and queues a continuation."""
    database = runtime.database
    lease = Lease.of(runtime.settings)
    started = time.monotonic()
    last: BulkRelinkJob | None = None
    try:
        while True:
            with database.unit_of_work() as db:
                job = _take_lease(db, job_id, worker_id, lease)
                if job is None:
                    return last
                last = job
                scope = _scope_of(db, job)
                now = scope.now()
                accounts = selection_accounts(scope, now, job.selection)
                if job.total is None:
                    job.total = count_selected(db, scope, accounts)
                    job.started_at = now
                through = next_batch_end(db, scope, accounts, job.cursor, batch_size)
                if through is None:
                    job.status = BulkJobStatus.succeeded
                    job.finished_at = now
                    job.locked_by = job.locked_until = None
                    job.error = None
                    log.info("bulk.finished", job_id=job.id, created=job.created)
                    return job
                outcome = request_batch(
                    db,
                    scope,
                    runtime,
                    accounts,
                    after=job.cursor,
                    through=through,
                    actor=job.created_by,
                    now=now,
                    job_id=job.id,
                )
                job.processed += outcome.processed
                job.created += outcome.created
                job.skipped = merge_counts(job.skipped, outcome.skipped)
                job.cursor = through
                # The selection can grow while the job runs; the total follows.
                job.total = max(job.total, job.processed)
                _renew_outbox_lease(db, outbox_message_id, worker_id, lease)
                if after_batch is not None:
                    after_batch(job)
                if time.monotonic() - started >= slice_seconds:
                    # Hand over: a fresh outbox row continues after this batch.
                    enqueue(
                        db,
                        BULK_REQUEST,
                        {"job_id": job.id},
                        dedupe_key=f"bulkjob:{job.id}:after:{through}",
                        platform_id=job.platform_id,
                        livemode=job.livemode,
                    )
                    job.locked_by = job.locked_until = None
                    return job
    except RetryLater:
        raise
    except Exception as error:
        _record_failure(runtime, job_id, worker_id, error, final=attempts >= DEFAULT_MAX_ATTEMPTS)
        if attempts >= DEFAULT_MAX_ATTEMPTS:
            raise GiveUp(f"bulk job {job_id} failed: {error}") from error
        raise


def _record_failure(
    runtime: Runtime, job_id: str, worker_id: str, error: Exception, *, final: bool
) -> None:
    """Keep the error on the job and release the lease so a retry can start at once."""
    with runtime.database.unit_of_work() as db:
        values: dict[str, object] = {
            "error": f"{type(error).__name__}: {error}"[:2000],
            "locked_by": None,
            "locked_until": None,
        }
        if final:
            values.update(status=BulkJobStatus.failed, finished_at=clock.now())
        db.execute(
            update(BulkRelinkJob)
            .where(
                BulkRelinkJob.id == job_id,
                # Not leased by another runner (the failed batch's own lease rolled back).
                or_(BulkRelinkJob.locked_by.is_(None), BulkRelinkJob.locked_by == worker_id),
            )
            .values(**values)
            .execution_options(synchronize_session=False)
        )
    log.warning("bulk.batch_failed", job_id=job_id, error=str(error), final=final)
