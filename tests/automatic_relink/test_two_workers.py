"""Automatic relink as it runs: two worker processes on PostgreSQL, a real SMTP server.

Policy on: with the sandbox clock advanced, an account that breaks is requested once
after the delay, reminded on the reminder days, and never again after it is repaired.
"""

from __future__ import annotations

import datetime as dt
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
import stripe
from sqlalchemy import select, update

from relink.automatic_relink.tasks import AUTOMATIC_RELINK_SCAN
from relink.config import Settings
from relink.kit import clock
from relink.models import ScheduledScan
from relink.platforms.service import NewPlatform
from relink.runtime import Runtime
from relink.sessions.schemas import hosted_url
from tests.automatic_relink.factories import (
    DAY,
    reminder_rows,
    sessions_of,
    set_policy,
)
from tests.email.smtp_server import Received, SmtpServer, smtp_server
from tests.factories import advance_clock, create_customer, create_test_account, deactivate
from tests.hosted.pages import HostedPages, text_of
from tests.test_worker import _start_smtp_worker, scans_put_off


def _wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _scan_finished(runtime: Runtime) -> bool:
    with runtime.database.read_only() as db:
        finished = db.scalar(
            select(ScheduledScan.last_finished_at).where(
                ScheduledScan.name == AUTOMATIC_RELINK_SCAN
            )
        )
        return finished is not None


def _one_scan(runtime: Runtime) -> None:
    """A minute passes for the schedule: one of the two workers runs the scan."""
    with runtime.database.unit_of_work() as db:
        db.execute(
            update(ScheduledScan)
            .where(ScheduledScan.name == AUTOMATIC_RELINK_SCAN)
            .values(
                next_run_at=clock.now() - dt.timedelta(seconds=1),
                locked_by=None,
                locked_until=None,
                last_finished_at=None,
            )
        )
    _wait_for(lambda: _scan_finished(runtime), 60, "the scan")


@pytest.fixture
def workers(settings: Settings, runtime: Runtime, tmp_path: Path) -> Iterator[SmtpServer]:
    with scans_put_off(runtime, keep={AUTOMATIC_RELINK_SCAN}), smtp_server() as smtp:
        processes = [_start_smtp_worker(settings, tmp_path, f"w{n}", smtp) for n in range(2)]
        try:
            yield smtp
        finally:
            for process in processes:
                process.terminate()
            for process in processes:
                process.wait(30)


# Two workers racing for one scan is PostgreSQL's case: only its variant of the suite's
# database runs here (SQLite's single writer would serialise them).
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_broken_account_is_requested_once_reminded_and_left_alone_once_repaired(
    client: stripe.StripeClient,
    platform: NewPlatform,
    runtime: Runtime,
    http: httpx.Client,
    workers: SmtpServer,
) -> None:
    smtp = workers
    address = platform.owner.email

    def received() -> list[Received]:
        return smtp.handler.to(address)

    def settle(count: int) -> None:
        _wait_for(lambda: len(received()) >= count, 60, f"{count} emails")

    set_policy(client, enabled="true", delay_seconds=4 * 3600, reminder_days=[3, 7])
    try:
        customer = create_customer(client, email=address, name="Ada Lovelace")
        account = create_test_account(client, customer=customer.id)
        deactivate(client, account.id, "access_expired")
        _one_scan(runtime)  # the account is seen broken: the delay starts
        advance_clock(client, 4 * 3600 - 60)
        _one_scan(runtime)
        assert sessions_of(runtime, account.id) == []

        advance_clock(client, 60)
        _one_scan(runtime)
        settle(1)
        [session] = sessions_of(runtime, account.id)
        link = hosted_url(runtime, session)
        assert link is not None
        assert session.created_by == "automation"

        advance_clock(client, 3 * DAY)
        _one_scan(runtime)
        settle(2)
        advance_clock(client, 4 * DAY)
        _one_scan(runtime)
        settle(3)

        pages = HostedPages(http, link)
        pages.open()
        pages.press_continue()
        assert "Your account is reconnected" in text_of(pages.sign_in(customer.id.lower(), "pw"))
        settle(4)  # the repair's consent receipt
        for _ in range(3):
            advance_clock(client, 10 * DAY)
            _one_scan(runtime)
    finally:
        set_policy(client, enabled="false")

    # Nothing was queued after the repair (the two reminders are all there are).
    assert [row.status for row in reminder_rows(runtime, session.id)] == ["done", "done"]
    # The request, its two reminders and the repair's consent receipt: nothing more.
    *emails, receipt = received()
    assert str(receipt.message["Subject"]).startswith("Your consent receipt:")
    assert len(emails) == 3
    assert Counter(str(e.message["Message-ID"]) for e in emails).most_common(1)[0][1] == 1
    subjects = [str(e.message["Subject"]) for e in emails]
    assert not subjects[0].startswith("Reminder:")
    assert all(subject.startswith("Reminder:") for subject in subjects[1:])
    assert all(link in e.message.get_body(("plain",)).get_content() for e in emails)  # type: ignore[union-attr]
    assert len(sessions_of(runtime, account.id)) == 1
