"""Sending the relink request email (outbox kind ``email.relink_request``).

The row was written in the session's transaction; here the worker renders the email in
the holder's language and hands it to the backend. Each attempt's outcome lands on the
session's timeline (``email_sent`` / ``email_failed``) and in its :class:`EmailDelivery`.
A transient failure (SMTP 4xx, connection trouble) is retried with capped exponential
backoff; a permanent one (5xx) goes to the dead letter and shows in the dashboard.

Replays are harmless: the Message-ID is derived from the outbox row, so a send repeated
after a crash carries the same id (the mailbox ignores it, an SMTP receiver can dedupe),
and a replay after the outcome was recorded sends nothing.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from typing import Any

import structlog
from sqlalchemy.orm import Session as DbSession

from relink.eligibility.service import is_confirmed_team_email
from relink.email.backends import MessageTags, SendOutcome, SendResult, backend_for
from relink.email.messages import build_message, message_id_for
from relink.email.relink_request import NoRecipient, email_locale, render_relink_request
from relink.kit.metrics import EMAILS
from relink.models import (
    DeliveryState,
    EmailDelivery,
    Platform,
    Session,
    SessionStatus,
    TimelineKind,
)
from relink.outbox.worker import GiveUp, Job, RetryLater, backoff
from relink.sessions import timeline
from relink.tenancy import Scope

log = structlog.get_logger("relink.email")

MAX_ATTEMPTS = 8
RETRY_BASE = dt.timedelta(seconds=30)
RETRY_CAP = dt.timedelta(hours=1)


def session_scope(db: DbSession, session: Session) -> Scope:
    """The scope a session lives in, with its platform's sandbox clock in test mode."""
    offset = 0
    if not session.livemode:
        platform = db.get(Platform, session.platform_id)
        offset = platform.test_clock_offset_seconds if platform else 0
    return Scope(session.platform_id, session.livemode, offset)


def record_delivery(
    db: DbSession,
    scope: Scope,
    session_id: str,
    *,
    state: DeliveryState,
    attempt: int,
    backend: str | None = None,
    message_id: str | None = None,
    reply: str | None = None,
) -> None:
    now = scope.now()
    delivery = db.get(EmailDelivery, session_id, with_for_update=True)
    if delivery is None:
        delivery = EmailDelivery(
            session_id=session_id,
            platform_id=scope.platform_id,
            livemode=scope.livemode,
            updated_at=now,
        )
        db.add(delivery)
    delivery.state = state
    delivery.attempts = max(delivery.attempts or 0, attempt)
    delivery.backend = backend or delivery.backend
    delivery.message_id = message_id or delivery.message_id
    if state != DeliveryState.skipped:
        delivery.last_attempt_at = now
    if state == DeliveryState.sent:
        delivery.sent_at = now
        delivery.last_reply = None
    elif reply is not None:
        delivery.last_reply = reply
    delivery.updated_at = now


def _fail_before_sending(job: Job, scope: Scope, session_id: str, reason: str) -> GiveUp:
    attempt = job.message.attempts
    with job.runtime.database.unit_of_work() as db:
        timeline.record(
            db,
            session_id,
            TimelineKind.email_failed,
            scope.now(),
            reply=reason,
            attempt=attempt,
            permanent=True,
        )
        record_delivery(
            db, scope, session_id, state=DeliveryState.failed, attempt=attempt, reply=reason
        )
    return GiveUp(reason)


def send_relink_email(job: Job) -> None:
    runtime = job.runtime
    session_id = str(job.message.payload["session_id"])
    refused: str | None = None
    # SQLite takes its write lock when any transaction begins: nothing below may open a
    # unit of work while this read is still open.
    with runtime.database.read_only() as db:
        session = db.get(Session, session_id)
        if session is None:
            return
        scope = session_scope(db, session)
        delivery = db.get(EmailDelivery, session_id)
        if delivery is not None and delivery.state in (DeliveryState.sent, DeliveryState.skipped):
            return  # a replay after the outcome was recorded
        pending = session.status == SessionStatus.pending
        if pending:
            try:
                rendered = render_relink_request(
                    db, scope, runtime, session, email_locale(db, scope, session)
                )
            except NoRecipient as missing:
                refused = str(missing)
            else:
                # Test mode never emails anyone but the platform's confirmed team, even
                # if the holder's address changed after the session was created.
                if not scope.livemode and not is_confirmed_team_email(
                    db, scope.platform_id, rendered.to
                ):
                    refused = (
                        "In test mode, relink emails go only to confirmed team members' addresses."
                    )
                message_id = message_id_for(job.message.id, rendered.sender)
                message = build_message(replace(rendered, message_id=message_id))
    if not pending:
        with runtime.database.unit_of_work() as db:
            record_delivery(db, scope, session_id, state=DeliveryState.skipped, attempt=0)
        log.info("email.skipped", session=session_id, status=session.status)
        return
    if refused is not None:
        raise _fail_before_sending(job, scope, session_id, refused)

    backend = backend_for(runtime)
    result = backend.send(
        message, MessageTags(scope.platform_id, scope.livemode, session_id=session_id)
    )
    _record_result(job, scope, session_id, backend.name, message_id, result)


def _record_result(
    job: Job, scope: Scope, session_id: str, backend: str, message_id: str, result: SendResult
) -> None:
    attempt = job.message.attempts
    final = result.outcome == SendOutcome.permanent or attempt >= MAX_ATTEMPTS
    EMAILS.labels("sent" if result.accepted else ("failed" if final else "deferred")).inc()
    delay = backoff(attempt, base=RETRY_BASE, cap=RETRY_CAP)
    now = scope.now()
    with job.runtime.database.unit_of_work() as db:
        if result.accepted:
            timeline.record(
                db,
                session_id,
                TimelineKind.email_sent,
                now,
                backend=backend,
                message_id=message_id,
                attempt=attempt,
            )
            record_delivery(
                db,
                scope,
                session_id,
                state=DeliveryState.sent,
                attempt=attempt,
                backend=backend,
                message_id=message_id,
            )
            log.info("email.sent", session=session_id, backend=backend, attempt=attempt)
            return
        detail: dict[str, Any] = {
            "backend": backend,
            "reply": result.reply,
            "code": result.code,
            "attempt": attempt,
            "permanent": final,
        }
        if not final:
            detail["retry_at"] = int((now + delay).timestamp())
        timeline.record(db, session_id, TimelineKind.email_failed, now, **detail)
        record_delivery(
            db,
            scope,
            session_id,
            state=DeliveryState.failed if final else DeliveryState.queued,
            attempt=attempt,
            backend=backend,
            message_id=message_id,
            reply=result.reply,
        )
    log.warning(
        "email.failed", session=session_id, reply=result.reply, attempt=attempt, final=final
    )
    reason = result.reply or result.outcome.value
    if final:
        raise GiveUp(reason)
    raise RetryLater(reason, delay=delay)
