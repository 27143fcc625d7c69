"""Scheduled scans of the connection lifecycle (spec 30-banks §3).

Each scan runs per scope, because sandbox time can be advanced per platform. Scans are
idempotent: every event they emit is guarded by a marker on the row (the date it was
emitted for) or by the state change itself, and rows are locked while processed
(``FOR UPDATE SKIP LOCKED`` on PostgreSQL), so running a scan twice or on two workers
at once emits each event once.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy import Select, or_, select
from sqlalchemy.orm import Session

from relink.eligibility.rules import ABOUT_TO_BREAK
from relink.kit.provenance import EventContext
from relink.lifecycle.refresh import due_subscription_refreshes
from relink.lifecycle.service import Lifecycle
from relink.models import (
    Account,
    AccountNumber,
    ConnectionStatus,
    InactiveCause,
    Platform,
    TanStatus,
)
from relink.tenancy import Scope, in_scope, platform_scope

LIVE_TAN_STATUSES = (TanStatus.transactable, TanStatus.pending)


Row = TypeVar("Row")


def _locked(session: Session, query: Select[Row]) -> Select[Row]:
    if session.get_bind().dialect.name == "postgresql":
        return query.with_for_update(skip_locked=True)
    return query


@dataclass
class ScanResult:
    tans_expired: int = 0
    expiry_warnings: int = 0
    deactivations: int = 0
    deactivation_warnings: int = 0
    refreshes_queued: int = 0
    links_expired: int = 0

    def __iadd__(self, other: ScanResult) -> ScanResult:
        self.tans_expired += other.tans_expired
        self.expiry_warnings += other.expiry_warnings
        self.deactivations += other.deactivations
        self.deactivation_warnings += other.deactivation_warnings
        self.refreshes_queued += other.refreshes_queued
        self.links_expired += other.links_expired
        return self


def scan_account_numbers(lifecycle: Lifecycle) -> ScanResult:
    session, scope = lifecycle.session, lifecycle.scope
    now = scope.now()
    result = ScanResult()
    numbers_in_scope = in_scope(AccountNumber, scope)
    passed = select(AccountNumber).where(
        numbers_in_scope,
        AccountNumber.status.in_(LIVE_TAN_STATUSES),
        AccountNumber.expected_expiry_at <= now,
    )
    for number in session.scalars(_locked(session, passed)):
        account = lifecycle.accounts.get(number.account_id)
        lifecycle.expire_account_number(account, number)
        result.tans_expired += 1
    upcoming = select(AccountNumber).where(
        numbers_in_scope,
        AccountNumber.status.in_(LIVE_TAN_STATUSES),
        AccountNumber.expected_expiry_at > now,
        AccountNumber.expected_expiry_at <= now + ABOUT_TO_BREAK,
        or_(
            AccountNumber.expiry_warned_for.is_(None),
            AccountNumber.expiry_warned_for != AccountNumber.expected_expiry_at,
        ),
    )
    for number in session.scalars(_locked(session, upcoming)):
        account = lifecycle.accounts.get(number.account_id)
        if lifecycle.warn_upcoming_expiry(account, number):
            result.expiry_warnings += 1
    return result


def scan_expected_deactivations(lifecycle: Lifecycle) -> ScanResult:
    session, scope = lifecycle.session, lifecycle.scope
    now = scope.now()
    result = ScanResult()
    active = lifecycle.accounts.select().where(
        Account.status == ConnectionStatus.active,
        Account.expected_deactivation_at.is_not(None),
    )
    for account in session.scalars(
        _locked(session, active.where(Account.expected_deactivation_at <= now))
    ):
        # Deactivating one account deactivates its whole authorization; siblings
        # already handled show up as inactive and are skipped.
        if account.status == ConnectionStatus.active:
            result.deactivations += len(lifecycle.deactivate(account, InactiveCause.access_expired))
    upcoming = active.where(
        Account.expected_deactivation_at > now,
        Account.expected_deactivation_at <= now + ABOUT_TO_BREAK,
        or_(
            Account.deactivation_warned_for.is_(None),
            Account.deactivation_warned_for != Account.expected_deactivation_at,
        ),
    )
    for account in session.scalars(_locked(session, upcoming)):
        if lifecycle.warn_upcoming_deactivation(account):
            result.deactivation_warnings += 1
    return result


def scan_subscriptions(lifecycle: Lifecycle) -> ScanResult:
    return ScanResult(refreshes_queued=due_subscription_refreshes(lifecycle))


ScopeScan = Callable[[Lifecycle], ScanResult]

# The lifecycle's own scans, in order. Features above the lifecycle add theirs (the hosted
# flow's link expiry): relink.hosted.scans.SCOPE_SCANS is the whole list the worker and the
# test clock run, so the lifecycle never imports a feature above it.
LIFECYCLE_SCANS: tuple[ScopeScan, ...] = (
    scan_account_numbers,
    scan_expected_deactivations,
    scan_subscriptions,
)


def run_scope_scans(
    session: Session,
    scope: Scope,
    context: EventContext,
    scans: Sequence[ScopeScan],
) -> ScanResult:
    lifecycle = Lifecycle(session, scope, context)
    result = ScanResult()
    for scan in scans:
        result += scan(lifecycle)
    return result


def advance_test_clock(
    session: Session,
    scope: Scope,
    seconds: int,
    context: EventContext,
    scans: Sequence[ScopeScan],
) -> tuple[Scope, ScanResult]:
    """Move the platform's sandbox clock forward and run the scans that fell due."""
    platform = session.get(Platform, scope.platform_id)
    assert platform is not None
    platform.test_clock_offset_seconds += seconds
    session.flush()
    advanced = platform_scope(scope.platform_id, False, platform.test_clock_offset_seconds)
    return advanced, run_scope_scans(session, advanced, context, scans)


SCAN_EVERY = dt.timedelta(seconds=60)
