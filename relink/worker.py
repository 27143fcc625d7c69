"""The worker: drains the outbox and runs the scheduled scans.

``relink worker`` runs it as its own process (many may run at once on PostgreSQL);
``relink serve`` runs one in a background thread unless ``--no-worker``.
"""

from __future__ import annotations

import threading
import time

import structlog

from relink.automatic_relink.reminders import RELINK_REMINDER, send_relink_reminder
from relink.automatic_relink.tasks import run_automatic_relink
from relink.bulk_requests.service import BULK_REQUEST
from relink.bulk_requests.tasks import run_bulk_request
from relink.email.account import PASSWORD_RESET, TEAM_INVITATION, send_account_email
from relink.email.bank_back import BANK_BACK_EMAIL, send_bank_back_email
from relink.email.consent_receipt import (
    CONSENT_LINK_EMAIL,
    CONSENT_RECEIPT_EMAIL,
    send_consent_link,
    send_consent_receipt,
)
from relink.email.dkim import log_signing
from relink.email.poller import BouncePoller
from relink.email.tasks import send_relink_bundle_email, send_relink_email, start_relink_emails
from relink.hosted.bank_back import run_institution_recovered
from relink.hosted.scans import SCOPE_SCANS
from relink.institutions.health import INSTITUTION_RECOVERED
from relink.institutions.incidents import INCIDENT_EMAIL, run_incident_scan, send_incident_email
from relink.lifecycle.refresh import REFRESH, run_end_replaced, run_refresh, run_revoke
from relink.lifecycle.revocation import END_REPLACED_GRANT, REVOKE
from relink.lifecycle.tasks import check_institution_health, run_lifecycle_scans
from relink.outbox.dispatcher import DEFAULT_BATCH_SIZE, OutboxDispatcher
from relink.outbox.handlers import Batched, Handler, Laned
from relink.runtime import Runtime
from relink.sessions.bundles import RELINK_BUNDLE_EMAIL
from relink.sessions.rollup import run_rollup_scan
from relink.sessions.service import RELINK_EMAIL
from relink.webhooks.notices import ENDPOINT_DISABLED, send_endpoint_disabled
from relink.webhooks.service import WEBHOOK_DELIVERY
from relink.webhooks.tasks import deliver_webhook

log = structlog.get_logger("relink.worker")

IDLE_SLEEP_SECONDS = 0.5

# Every outbox kind and its handler, listed explicitly (only the worker runs them).
HANDLERS: dict[str, Handler] = {
    WEBHOOK_DELIVERY: Laned(deliver_webhook, lane_key="endpoint_id"),
    ENDPOINT_DISABLED: send_endpoint_disabled,
    TEAM_INVITATION: send_account_email,
    PASSWORD_RESET: send_account_email,
    REFRESH: run_refresh,
    REVOKE: run_revoke,
    END_REPLACED_GRANT: run_end_replaced,
    RELINK_EMAIL: Batched(send_relink_email, start_relink_emails, gives_up_itself=True),
    RELINK_BUNDLE_EMAIL: send_relink_bundle_email,
    BULK_REQUEST: run_bulk_request,
    INSTITUTION_RECOVERED: run_institution_recovered,
    BANK_BACK_EMAIL: send_bank_back_email,
    CONSENT_RECEIPT_EMAIL: send_consent_receipt,
    CONSENT_LINK_EMAIL: send_consent_link,
    INCIDENT_EMAIL: send_incident_email,
    RELINK_REMINDER: send_relink_reminder,
}

# After a failed round the worker waits twice as long as after the previous one, up to
# this: a database that went away is retried every half minute, not every half second.
MAX_ERROR_SLEEP_SECONDS = 30.0


def error_sleep_seconds(failures: int) -> float:
    """How long to wait after the ``failures``-th failed round in a row."""
    return float(min(MAX_ERROR_SLEEP_SECONDS, IDLE_SLEEP_SECONDS * 2 ** (failures - 1)))


class Worker:
    def __init__(
        self,
        runtime: Runtime,
        *,
        batch_size: int = DEFAULT_BATCH_SIZE,
        worker_id: str | None = None,
    ) -> None:
        self.runtime = runtime
        # Set at SIGTERM: the dispatcher starts nothing new and hands unstarted rows back.
        self.stopping = threading.Event()
        self.dispatcher = OutboxDispatcher(
            runtime, HANDLERS, batch_size=batch_size, worker_id=worker_id, stopping=self.stopping
        )
        # The bounce mailbox, when there is one, is read on a thread of its own.
        self.poller = (
            BouncePoller(runtime, stopping=self.stopping)
            if runtime.settings.bounce_imap_host
            else None
        )

    def run_once(self) -> int:
        """One round: the scans that are due, then a batch of outbox rows."""
        run_lifecycle_scans(self.runtime, self.dispatcher.worker_id, SCOPE_SCANS)
        check_institution_health(self.runtime, self.dispatcher.worker_id)
        run_incident_scan(self.runtime, self.dispatcher.worker_id)
        run_rollup_scan(self.runtime, self.dispatcher.worker_id)
        run_automatic_relink(self.runtime, self.dispatcher.worker_id)
        return self.dispatcher.run_once()

    def run_forever(self) -> None:
        log.info("worker.started", worker_id=self.dispatcher.worker_id)
        if self.runtime.settings.email_backend == "smtp":
            log_signing(self.runtime.database, self.runtime.settings.email_from)
        if self.poller is not None:
            self.poller.start()
        failures = 0
        while not self.stopping.is_set():
            try:
                handled = self.run_once()
            except Exception as error:
                failures += 1
                delay = error_sleep_seconds(failures)
                if failures == 1:  # the traceback once per run of failures
                    log.exception("worker.round_failed", retry_in=delay)
                else:
                    log.error(
                        "worker.round_failed",
                        error=f"{type(error).__name__}: {error}".splitlines()[0],
                        failures=failures,
                        retry_in=delay,
                    )
                self.stopping.wait(delay)
                continue
            if failures:
                log.info("worker.recovered", failures=failures)
                failures = 0
            if handled == 0:
                self.stopping.wait(IDLE_SLEEP_SECONDS)
        if self.poller is not None:
            self.poller.stop()
        self.dispatcher.close()
        log.info("worker.stopped", worker_id=self.dispatcher.worker_id)

    def stop(self) -> None:
        self.stopping.set()


class BackgroundWorker:
    """A :class:`Worker` on a daemon thread (the in-process worker of ``relink serve``)."""

    def __init__(self, runtime: Runtime) -> None:
        self.worker = Worker(runtime)
        self.thread = threading.Thread(
            target=self.worker.run_forever, name="relink-worker", daemon=True
        )

    def start(self) -> None:
        self.thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self.worker.stop()
        deadline = time.monotonic() + timeout
        self.thread.join(max(0.0, deadline - time.monotonic()))
        if self.worker.poller is not None:
            self.worker.poller.stop(max(0.0, deadline - time.monotonic()))
