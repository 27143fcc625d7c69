"""The automatic relink scan: requests and reminders by policy, for every scope that has it on.

One worker at a time runs it (a scheduled scan's lease, renewed after every batch; a
worker whose lease was taken rolls its batch back and stops). For each scope, four
steps, each in keyset batches of its own transactions, each batch a few set-based
statements — never a loop of ORM objects over the scope's accounts:

1. **end** the episodes whose account was repaired, disconnected or can no longer be
   emailed, or whose holder opted out of reminders (:func:`relink.automatic_relink.exclusions.episode_ended`): one ``DELETE``;
2. **start** an episode for each eligible account that has none and whose holder did
   not opt out of reminders (the eligibility rules' own filter, backed by the
   ``relink_due_at`` index): one multi-row ``INSERT``;
3. **request** the episodes whose delay is over: the bulk request's own
   :func:`relink.bulk_requests.service.request_batch` creates one hosted email session
   each (timeline ``created`` by ``automation``, the email in the outbox);
4. **remind** the episodes whose next reminder is due: one outbox row each
   (:mod:`relink.automatic_relink.reminders`), with the pending session's link.

Steps 3 and 4 read only due episodes (``next_at``, indexed per scope) and lock them
(``FOR UPDATE SKIP LOCKED`` on PostgreSQL); every email's outbox row is keyed by its
session and its number in the episode. So two workers, or a scan taken over from a
crashed worker, never send an email twice. All times are the scope's (the sandbox clock
of a test-mode platform may be advanced).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import structlog
from sqlalchemy import Select, delete, exists, not_, select, update
from sqlalchemy.orm import Session as DbSession

from relink.accounts.filters import selected_accounts
from relink.automatic_relink.exclusions import episode_ended, episode_held, holder_opted_out
from relink.automatic_relink.reminders import (
    EXPIRY,
    PENDING,
    RELINK_REMINDER,
    reminder_dedupe_key,
)
from relink.automatic_relink.service import Policy, enabled_policies
from relink.bulk_requests.preview import hosted_relink_off
from relink.bulk_requests.service import request_batch
from relink.eligibility.query import eligibility_conditions
from relink.eligibility.rules import ABOUT_TO_BREAK, BROKEN_SINCE_EVER
from relink.kit import clock, ids
from relink.kit.metrics import SCANS
from relink.kit.sql import insert_or_ignore
from relink.lifecycle.tasks import claim_scan, finish_scan, renew_scan
from relink.models import (
    AUTOMATION,
    Account,
    AutomaticRelink,
    EmailDelivery,
    OutboxStatus,
    Session,
    SessionStatus,
)
from relink.outbox.lease import Lease
from relink.outbox.store import enqueue_many
from relink.runtime import Runtime
from relink.tenancy import Scope, in_scope

log = structlog.get_logger("relink.automation")

AUTOMATIC_RELINK_SCAN = "automatic_relink"
SCAN_EVERY = dt.timedelta(seconds=60)
BATCH_SIZE = 1000
# How soon a due episode that could not be acted on (its account not eligible at the
# moment: the bank in trouble, an operator's open request; its first email not out yet)
# is looked at again.
RECHECK = dt.timedelta(minutes=15)


class LeaseLost(Exception):
    """Another worker took the scan: this batch rolls back and this worker stops."""


@dataclass
class AutomationResult:
    ended: int = 0
    started: int = 0
    requested: int = 0
    reminded: int = 0

    def __iadd__(self, other: AutomationResult) -> AutomationResult:
        self.ended += other.ended
        self.started += other.started
        self.requested += other.requested
        self.reminded += other.reminded
        return self


# -- the schedule of one episode (pure: the scan computes it for a batch's rows) ----------


@dataclass(frozen=True)
class Schedule:
    reminders_done: int
    expiry_reminders_done: int
    # Which reminder is due now (None: none).
    due: str | None
    next_at: dt.datetime | None


def expiry_of(relink_due_at: dt.datetime | None) -> dt.datetime | None:
    """When the account's TAN or consent expires, if it is about to break (not broken):
    the rules store "about to break" as the expiry less :data:`ABOUT_TO_BREAK`."""
    if relink_due_at is None or relink_due_at <= BROKEN_SINCE_EVER:
        return None
    return relink_due_at + ABOUT_TO_BREAK


def schedule(
    policy: Policy,
    now: dt.datetime,
    *,
    requested_at: dt.datetime,
    expiry_at: dt.datetime | None,
    reminders_done: int,
    expiry_reminders_done: int,
    emails: int,
) -> Schedule:
    """Which reminder is due at ``now`` and when the next one is.

    Reminder days that passed together (a scan that did not run, a sandbox clock moved
    ahead) give one reminder, not one each."""
    day = dt.timedelta(days=1)
    pending_marks = [requested_at + d * day for d in policy.reminder_days]
    expiry_marks = [expiry_at - d * day for d in policy.expiry_reminder_days] if expiry_at else []
    pending_passed = sum(1 for mark in pending_marks if mark <= now)
    expiry_passed = sum(1 for mark in expiry_marks if mark <= now)
    due: str | None = None
    if emails < policy.max_emails_per_account:
        if expiry_passed > expiry_reminders_done:
            due = EXPIRY
        elif pending_passed > reminders_done:
            due = PENDING
    done_pending = max(pending_passed, reminders_done)
    done_expiry = max(expiry_passed, expiry_reminders_done)
    after = emails + (1 if due else 0)
    upcoming = [m for m in pending_marks[done_pending:] + expiry_marks[done_expiry:] if m > now]
    next_at = min(upcoming) if upcoming and after < policy.max_emails_per_account else None
    return Schedule(done_pending, done_expiry, due, next_at)


# -- the scan -------------------------------------------------------------------------------


def _locked(db: DbSession, query: Select[Any]) -> Select[Any]:
    if db.get_bind().dialect.name == "postgresql":
        return query.with_for_update(skip_locked=True, of=AutomaticRelink)
    return query


def end_episodes(db: DbSession, scope: Scope, now: dt.datetime, limit: int) -> int:
    """Delete up to ``limit`` episodes that are over; how many were."""
    over = (
        select(AutomaticRelink.account_id)
        .join(Account, Account.id == AutomaticRelink.account_id)
        .where(in_scope(AutomaticRelink, scope), episode_ended(scope, now))
        .order_by(AutomaticRelink.account_id)
        .limit(limit)
    )
    account_ids = list(db.scalars(over))
    if account_ids:
        db.execute(
            delete(AutomaticRelink)
            .where(AutomaticRelink.account_id.in_(account_ids))
            .execution_options(synchronize_session=False)
        )
    return len(account_ids)


def newly_eligible(scope: Scope, now: dt.datetime, after: str | None, limit: int) -> Select[Any]:
    """Up to ``limit`` ids (after ``after``) of eligible accounts without an episode."""
    query = (
        select(Account.id)
        .where(
            in_scope(Account, scope),
            *eligibility_conditions(scope, now),
            not_(exists().where(AutomaticRelink.account_id == Account.id)),
            not_(hosted_relink_off(scope)),
            # An opted-out holder's episode would end at once: none starts.
            not_(holder_opted_out(scope)),
        )
        .order_by(Account.id)
        .limit(limit)
    )
    return query if after is None else query.where(Account.id > after)


def start_episodes(
    db: DbSession,
    scope: Scope,
    policy: Policy,
    now: dt.datetime,
    after: str | None,
    limit: int,
) -> tuple[int, str | None]:
    """Start an episode for up to ``limit`` eligible accounts without one (ids after
    ``after``); returns how many, and the id to continue after (None: done)."""
    account_ids = list(db.scalars(newly_eligible(scope, now, after, limit)))
    if not account_ids:
        return 0, None
    due = now + dt.timedelta(seconds=policy.delay_seconds)
    rows = [
        {
            "account_id": account_id,
            "platform_id": scope.platform_id,
            "livemode": scope.livemode,
            "eligible_since": now,
            "emails": 0,
            "reminders_done": 0,
            "expiry_reminders_done": 0,
            "next_at": due,
            "updated_at": now,
        }
        for account_id in account_ids
    ]
    db.execute(insert_or_ignore(db, AutomaticRelink, index_elements=["account_id"]), rows)
    return len(account_ids), account_ids[-1] if len(account_ids) == limit else None


def _due(scope: Scope, now: dt.datetime, *, requested: bool, limit: int) -> Select[Any]:
    requested_at = AutomaticRelink.requested_at
    return (
        select(AutomaticRelink)
        .join(Account, Account.id == AutomaticRelink.account_id)
        .where(
            in_scope(AutomaticRelink, scope),
            AutomaticRelink.next_at <= now,
            requested_at.is_not(None) if requested else requested_at.is_(None),
            not_(episode_held(scope, now)),
        )
        .order_by(AutomaticRelink.next_at, AutomaticRelink.account_id)
        .limit(limit)
    )


def request_due(
    db: DbSession, scope: Scope, runtime: Runtime, policy: Policy, now: dt.datetime, limit: int
) -> tuple[int, int]:
    """Request up to ``limit`` episodes whose delay is over; returns (looked at, requested)."""
    episodes = list(db.scalars(_locked(db, _due(scope, now, requested=False, limit=limit))))
    if not episodes:
        return 0, 0
    delay = dt.timedelta(seconds=policy.delay_seconds)
    ready = sorted(e.account_id for e in episodes if e.eligible_since + delay <= now)
    created: dict[str, str] = {}
    if ready:
        request_batch(
            db,
            scope,
            runtime,
            selected_accounts(scope, ready),
            after=None,
            through=ready[-1],
            actor=AUTOMATION,
            now=now,
        )
        created = {
            str(account_id): str(session_id)
            for account_id, session_id in db.execute(
                select(Session.relink_account_id, Session.id).where(
                    in_scope(Session, scope),
                    Session.relink_account_id.in_(ready),
                    Session.status == SessionStatus.pending,
                    Session.ui_mode == "hosted",
                    Session.created_by == AUTOMATION,
                    Session.created_at >= now,
                )
            )
        }
    due_at = {
        str(account_id): relink_due_at
        for account_id, relink_due_at in db.execute(
            select(Account.id, Account.relink_due_at).where(Account.id.in_(list(created)))
        )
    }
    changes: list[dict[str, Any]] = []
    for episode in episodes:
        account_id = episode.account_id
        if account_id in created:
            plan = schedule(
                policy,
                now,
                requested_at=now,
                expiry_at=expiry_of(due_at.get(account_id)),
                reminders_done=0,
                expiry_reminders_done=0,
                emails=1,
            )
            changes.append(
                {
                    "account_id": account_id,
                    "session_id": created[account_id],
                    "requested_at": now,
                    "emails": 1,
                    "reminders_done": plan.reminders_done,
                    # Expiry marks already behind at the request are not reminded of.
                    "expiry_reminders_done": plan.expiry_reminders_done,
                    "next_at": plan.next_at,
                    "updated_at": now,
                }
            )
        elif episode.eligible_since + delay > now:  # a policy change moved it: not yet
            changes.append({"account_id": account_id, "next_at": episode.eligible_since + delay})
        else:  # not eligible at the moment (request_batch skipped it)
            changes.append({"account_id": account_id, "next_at": now + RECHECK})
    _update_episodes(db, changes)
    return len(episodes), len(created)


def remind_due(
    db: DbSession, scope: Scope, policy: Policy, now: dt.datetime, limit: int
) -> tuple[int, int]:
    """Queue the reminders of up to ``limit`` due episodes; returns (looked at, reminded)."""
    episodes = list(db.scalars(_locked(db, _due(scope, now, requested=True, limit=limit))))
    if not episodes:
        return 0, 0
    session_ids = [e.session_id for e in episodes if e.session_id is not None]
    # The pending sessions, with their bundle (one email for several accounts of a holder).
    pending: dict[str, str | None] = {
        str(session_id): bundle_id
        for session_id, bundle_id in db.execute(
            select(Session.id, Session.bundle_id).where(
                Session.id.in_(session_ids), Session.status == SessionStatus.pending
            )
        )
    }
    first_sent = set(
        db.scalars(
            select(EmailDelivery.session_id).where(
                EmailDelivery.session_id.in_(session_ids), EmailDelivery.sent_at.is_not(None)
            )
        )
    )
    due_at = {
        str(account_id): relink_due_at
        for account_id, relink_due_at in db.execute(
            select(Account.id, Account.relink_due_at).where(
                Account.id.in_([e.account_id for e in episodes])
            )
        )
    }
    changes: list[dict[str, Any]] = []
    # The reminders due, by bundle (a session on its own: by the session).
    due: dict[str, list[dict[str, Any]]] = {}
    queued_at = clock.now()
    for episode in episodes:
        account_id, session_id = episode.account_id, episode.session_id
        if session_id is None or session_id not in pending:
            # Finished (repaired, cancelled, its link expired): nothing to remind of. The
            # episode stays until the account is repaired, so it is not asked again.
            changes.append({"account_id": account_id, "next_at": None, "updated_at": now})
            continue
        assert episode.requested_at is not None
        plan = schedule(
            policy,
            now,
            requested_at=episode.requested_at,
            expiry_at=expiry_of(due_at.get(account_id)),
            reminders_done=episode.reminders_done,
            expiry_reminders_done=episode.expiry_reminders_done,
            emails=episode.emails,
        )
        if plan.due is not None and session_id not in first_sent:
            # The request's own email is not out yet (waiting for the bank, retrying).
            changes.append({"account_id": account_id, "next_at": now + RECHECK})
            continue
        emails = episode.emails + (1 if plan.due else 0)
        changes.append(
            {
                "account_id": account_id,
                "emails": emails,
                "reminders_done": plan.reminders_done,
                "expiry_reminders_done": plan.expiry_reminders_done,
                "next_at": plan.next_at,
                "updated_at": now,
            }
        )
        if plan.due is not None:
            reminder = {
                "session_id": session_id,
                "account_id": account_id,
                "reminder": plan.due,
                "number": emails,
            }
            due.setdefault(pending[session_id] or session_id, []).append(reminder)
    outbox = [_reminder_row(scope, key, reminders, queued_at) for key, reminders in due.items()]
    _update_episodes(db, changes)
    enqueue_many(db, outbox)
    return len(episodes), len(outbox)


def _reminder_row(
    scope: Scope, key: str, reminders: list[dict[str, Any]], queued_at: dt.datetime
) -> dict[str, Any]:
    """The outbox row of one reminder email: one account's, or of the accounts of one
    bundle (``key``) due together: one email for them, as their request was."""
    first = reminders[0]
    payload = dict(first)
    if len(reminders) > 1:
        payload["bundle"] = {"id": key, "reminders": reminders}
    return {
        "id": ids.new("obx"),
        "kind": RELINK_REMINDER,
        "payload": payload,
        "dedupe_key": reminder_dedupe_key(first["session_id"], first["number"]),
        "platform_id": scope.platform_id,
        "livemode": scope.livemode,
        "status": OutboxStatus.pending.value,
        "attempts": 0,
        # Real time, as every email's: the sandbox clock decides what is due, never when
        # it goes out.
        "run_after": queued_at,
        "created_at": queued_at,
    }


def _update_episodes(db: DbSession, changes: list[dict[str, Any]]) -> None:
    """Each episode's new values, by primary key, grouped by the columns they set."""
    by_columns: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for change in changes:
        by_columns.setdefault(tuple(sorted(change)), []).append(change)
    for rows in by_columns.values():
        db.execute(update(AutomaticRelink), rows)


KeepLease = Callable[[DbSession], None]


def automate_scope(
    runtime: Runtime,
    scope: Scope,
    policy: Policy,
    keep_lease: KeepLease,
    *,
    batch_size: int = BATCH_SIZE,
) -> AutomationResult:
    """The four steps for one scope, batch by batch (each batch commits)."""
    database = runtime.database
    result = AutomationResult()
    while True:
        with database.unit_of_work() as db:
            ended = end_episodes(db, scope, scope.now(), batch_size)
            keep_lease(db)
        result.ended += ended
        if ended < batch_size:
            break
    after: str | None = None
    while True:
        with database.unit_of_work() as db:
            started, after = start_episodes(db, scope, policy, scope.now(), after, batch_size)
            keep_lease(db)
        result.started += started
        if after is None:
            break
    while True:
        with database.unit_of_work() as db:
            looked, requested = request_due(db, scope, runtime, policy, scope.now(), batch_size)
            keep_lease(db)
        result.requested += requested
        if looked < batch_size:
            break
    while True:
        with database.unit_of_work() as db:
            looked, reminded = remind_due(db, scope, policy, scope.now(), batch_size)
            keep_lease(db)
        result.reminded += reminded
        if looked < batch_size:
            break
    return result


def run_automatic_relink(
    runtime: Runtime, worker_id: str, *, batch_size: int = BATCH_SIZE
) -> AutomationResult | None:
    """The scheduled scan (every minute, one worker at a time); None if not due here."""
    database = runtime.database
    lease = Lease.of(runtime.settings)
    with database.unit_of_work() as db:
        if not claim_scan(db, AUTOMATIC_RELINK_SCAN, worker_id, lease):
            return None
        policies = enabled_policies(db)
    SCANS.labels(AUTOMATIC_RELINK_SCAN).inc()

    def keep_lease(db: DbSession) -> None:
        if not renew_scan(db, AUTOMATIC_RELINK_SCAN, worker_id, lease):
            raise LeaseLost(AUTOMATIC_RELINK_SCAN)

    total = AutomationResult()
    error = None
    for scope, policy in policies:
        try:
            total += automate_scope(runtime, scope, policy, keep_lease, batch_size=batch_size)
        except LeaseLost:
            return total
        except Exception as failure:  # one scope's failure must not stop the others
            error = f"{scope.platform_id}/{scope.mode}: {failure}"
            log.exception("automation.scope_failed", platform=scope.platform_id, mode=scope.mode)
    with database.unit_of_work() as db:
        finish_scan(db, AUTOMATIC_RELINK_SCAN, worker_id, clock.now() + SCAN_EVERY, error)
    log.info(
        "automation.scanned",
        ended=total.ended,
        started=total.started,
        requested=total.requested,
        reminded=total.reminded,
    )
    return total
