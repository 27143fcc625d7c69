"""Driving the automatic relink scan from tests: the policy, one scan now, what it did."""

from __future__ import annotations

import datetime as dt
from typing import Any

import stripe
from sqlalchemy import select, update

from relink.automatic_relink.reminders import RELINK_REMINDER
from relink.automatic_relink.tasks import (
    AUTOMATIC_RELINK_SCAN,
    AutomationResult,
    run_automatic_relink,
)
from relink.kit import clock
from relink.models import AutomaticRelink, MailboxMessage, OutboxMessage, ScheduledScan, Session
from relink.runtime import Runtime
from tests.factories import raw

DAY = 86400


def set_policy(client: stripe.StripeClient, **params: Any) -> dict[str, Any]:
    return raw(client, "post", "/v1/relink_policy", **params).to_dict()


def make_scan_due(runtime: Runtime) -> None:
    """The scan's schedule says "now" (as a minute passing would), its lease free."""
    with runtime.database.unit_of_work() as db:
        db.execute(
            update(ScheduledScan)
            .where(ScheduledScan.name == AUTOMATIC_RELINK_SCAN)
            .values(
                next_run_at=clock.now() - dt.timedelta(seconds=1),
                locked_by=None,
                locked_until=None,
            )
        )


def scan(runtime: Runtime, worker_id: str = "test-worker") -> AutomationResult:
    """Run the automatic relink scan once, now."""
    make_scan_due(runtime)
    result = run_automatic_relink(runtime, worker_id)
    assert result is not None
    with runtime.database.read_only() as db:
        row = db.scalars(
            select(ScheduledScan).where(ScheduledScan.name == AUTOMATIC_RELINK_SCAN)
        ).one()
        assert row.last_error is None, row.last_error
    return result


def sessions_of(runtime: Runtime, account_id: str) -> list[Session]:
    with runtime.database.read_only() as db:
        return list(
            db.scalars(
                select(Session)
                .where(Session.relink_account_id == account_id)
                .order_by(Session.created_at)
            )
        )


def episode(runtime: Runtime, account_id: str) -> AutomaticRelink | None:
    with runtime.database.read_only() as db:
        return db.get(AutomaticRelink, account_id)


def reminder_rows(runtime: Runtime, session_id: str) -> list[OutboxMessage]:
    with runtime.database.read_only() as db:
        return list(
            db.scalars(
                select(OutboxMessage)
                .where(
                    OutboxMessage.kind == RELINK_REMINDER,
                    OutboxMessage.payload["session_id"].as_string() == session_id,
                )
                .order_by(OutboxMessage.created_at)
            )
        )


def mailbox_of(runtime: Runtime, session_id: str) -> list[MailboxMessage]:
    """The emails the mailbox backend stored for a session, oldest first."""
    with runtime.database.read_only() as db:
        return list(
            db.scalars(
                select(MailboxMessage)
                .where(MailboxMessage.session_id == session_id)
                .order_by(MailboxMessage.created_at, MailboxMessage.id)
            )
        )
