"""Sending one email to a holder outside the relink batch: the reminders, "your bank is
back", the consent receipt and the new consent link (docs/email.md: bounces).

Each leaves, as the relink email does (:mod:`relink.email.tasks`), with its own VERP
envelope sender (:func:`relink.email.bounces.return_path` of its outbox row), whose token
is stored once the email reached a server; a 5xx about the address at send time
suppresses it, a 4xx to its RCPT TO counts as a transient failure
(:func:`relink.email.bounces.record_transient`); and none goes to an address on the
suppression list.
"""

from __future__ import annotations

from collections.abc import Callable

import structlog
from sqlalchemy.orm import Session as DbSession

from relink.email.backends import MessageTags, SendOutcome, backend_for
from relink.email.bounces import (
    SUPPRESSED_REFUSAL,
    active_suppression,
    mark_bounced,
    record_transient,
    return_path,
    suppress,
    token_row,
)
from relink.email.messages import RenderedEmail, build_message, envelope_address
from relink.kit.sql import insert_or_ignore
from relink.models import BounceToken, SuppressionReason
from relink.outbox.handlers import GiveUp, Job, RetryLater
from relink.tenancy import Scope

log = structlog.get_logger("relink.email")


def refuse_if_suppressed(db: DbSession, scope: Scope, address: str) -> None:
    """The email stays unsent (for good) when its address is on the suppression list."""
    if active_suppression(db, scope, address, scope.now()) is not None:
        raise GiveUp(SUPPRESSED_REFUSAL)


def send_holder_email(
    job: Job,
    scope: Scope,
    rendered: RenderedEmail,
    *,
    session_id: str | None,
    bounces_mark_session: bool,
    record: Callable[[DbSession], None] | None = None,
) -> None:
    """Send ``rendered`` with its own bounce address; ``record`` runs (with the token
    row) in the transaction that follows an accepted send.

    ``bounces_mark_session``: a later bounce (or a refusal now) shows on the session's
    delivery and timeline — for the emails about a pending session (a reminder, the bank
    is back); a receipt after the session finished leaves its delivery as it was and only
    suppresses the address. Raises what the outbox expects of a failed send."""
    runtime = job.runtime
    path, token = return_path(runtime.settings, runtime.link_key, job.message.id)
    tags = MessageTags(scope.platform_id, scope.livemode, session_id=session_id, return_path=path)
    result = backend_for(runtime).send(build_message(rendered), tags)
    marked = session_id if bounces_mark_session else None
    recipient = envelope_address(rendered.to)
    if result.accepted or result.code is not None:
        # It reached a server: a later bounce may come back to its envelope sender.
        with runtime.database.unit_of_work() as db:
            now = scope.now()
            assert rendered.message_id is not None
            row = token_row(
                scope,
                token,
                recipient=recipient,
                message_id=rendered.message_id,
                session_id=marked,
                now=now,
            )
            db.execute(insert_or_ignore(db, BounceToken, index_elements=["digest"]), [row])
            if result.address_failed:
                suppress(db, scope, recipient, SuppressionReason.bounced, result.reply, marked, now)
                if marked is not None:
                    mark_bounced(db, marked, result.reply, now, source="smtp", code=result.code)
            elif result.address_deferred:
                record_transient(db, scope, recipient, result.reply, marked, now)
            if result.accepted and record is not None:
                record(db)
    if result.accepted:
        return
    log.warning("email.failed", kind=job.message.kind, reply=result.reply, code=result.code)
    if result.outcome == SendOutcome.permanent:
        raise GiveUp(f"SMTP refused: {result.reply}")
    raise RetryLater(f"SMTP deferred: {result.reply}")
