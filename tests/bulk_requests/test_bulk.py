"""Bulk hosted relink requests: the eligible get one hosted email session each, the
others are counted by reason, set-based and safe under concurrency."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from sqlalchemy import func, select

from relink.accounts.filters import AccountFilter, filtered_accounts
from relink.bulk_requests.preview import HOSTED_RELINK_DISABLED, preview_bulk_request
from relink.bulk_requests.service import BulkResult, request_relinks
from relink.eligibility.query import primary_reason
from relink.eligibility.rules import Reason
from relink.hosted.scans import SCOPE_SCANS
from relink.kit import clock
from relink.kit.clock import FrozenClock
from relink.kit.crypto import token_digest
from relink.kit.provenance import EventContext
from relink.lifecycle.scans import advance_test_clock
from relink.models import Account, Event, OutboxMessage, Platform, Session, SessionStatus
from relink.outbox.lease import Lease
from relink.outbox.store import claim
from relink.runtime import Runtime
from relink.sessions.service import RELINK_EMAIL, NewSession, SessionService
from tests.bulk_requests.bulk_factories import (
    ACTOR,
    build_cases,
    bulk_scope,
    bulk_sessions,
    by_ids,
    case_named,
    eligible_ids,
    email_outbox_rows,
    expected_skips,
)
from tests.eligibility.cases import CASES, Case
from tests.eligibility.conftest import book, frozen_clock
from tests.eligibility.factories import (
    NOW,
    Book,
    create_book,
    delete_book_institutions,
)
from tests.factories import timeline_kinds

__all__ = ["book", "frozen_clock"]  # fixtures used by this module


def _request(
    book: Book,
    account_ids: list[str],
    *,
    batch_size: int = 5000,
    progress: Callable[[int, int], None] | None = None,
) -> BulkResult:
    scope = bulk_scope(book)
    with book.runtime.database.unit_of_work() as db:
        return request_relinks(
            db,
            scope,
            book.runtime,
            by_ids(scope, account_ids),
            actor=ACTOR,
            batch_size=batch_size,
            progress=progress,
        )


@dataclass
class EveryCase:
    """One account of every eligibility case, built once per engine for this module."""

    book: Book
    built: list[tuple[Account, Case]]

    def ids(self) -> list[str]:
        return [account.id for account, _ in self.built]


@pytest.fixture(scope="module")
def every_case(runtime: Runtime) -> Iterator[EveryCase]:
    clock.set_now(FrozenClock(NOW))
    try:
        book = create_book(runtime)
        built = build_cases(book)
    finally:
        clock.reset()
    yield EveryCase(book, built)
    delete_book_institutions(runtime, book)


def _request_rolled_back(
    every: EveryCase, *, livemode: bool = False
) -> tuple[BulkResult, set[str | None]]:
    """Request relinks for every case, then roll back (the book stays as built); returns
    the result and the accounts that got a session."""
    scope = bulk_scope(every.book, livemode=livemode)
    with every.book.runtime.database.read_only() as db:
        result = request_relinks(
            db, scope, every.book.runtime, by_ids(scope, every.ids()), actor=ACTOR
        )
        requested = set(
            db.scalars(
                select(Session.relink_account_id).where(
                    Session.platform_id == scope.platform_id, Session.created_by == ACTOR
                )
            )
        )
    return result, requested


def test_request_relinks_creates_a_session_for_exactly_the_eligible_accounts(
    every_case: EveryCase,
) -> None:
    result, requested = _request_rolled_back(every_case)
    assert requested == eligible_ids(every_case.built, livemode=False)
    assert result.created == len(requested)


def test_request_relinks_in_live_mode_creates_sessions_for_live_eligible_accounts(
    every_case: EveryCase,
) -> None:
    result, requested = _request_rolled_back(every_case, livemode=True)
    assert requested == eligible_ids(every_case.built, livemode=True)
    assert result.skipped == expected_skips(every_case.built, livemode=True)


def test_skipped_counts_group_each_account_by_the_single_account_services_reason(
    every_case: EveryCase,
) -> None:
    by_service: Counter[str] = Counter()
    for account, _ in every_case.built:
        if not account.livemode:
            reason = primary_reason(every_case.book.check(account.id).reasons)
            if reason is not None:
                by_service[reason.value] += 1
    result, _ = _request_rolled_back(every_case)
    assert result.skipped == dict(by_service)
    assert result.skipped == expected_skips(every_case.built, livemode=False)


def test_preview_counts_equal_the_result_counts(every_case: EveryCase) -> None:
    scope = bulk_scope(every_case.book)
    with every_case.book.runtime.database.read_only() as db:
        preview = preview_bulk_request(db, scope, NOW, by_ids(scope, every_case.ids()))
    result, _ = _request_rolled_back(every_case)
    assert (preview.eligible, preview.skipped) == (result.created, result.skipped)
    assert preview.selected == sum(1 for a, _ in every_case.built if not a.livemode)


def test_preview_eligible_count_equals_the_eligible_filter(every_case: EveryCase) -> None:
    scope = bulk_scope(every_case.book)
    with every_case.book.runtime.database.read_only() as db:
        everything = filtered_accounts(scope, NOW, AccountFilter())
        eligible = filtered_accounts(scope, NOW, AccountFilter(eligible=True))
        preview = preview_bulk_request(db, scope, NOW, everything)
        filtered = db.scalar(select(func.count()).select_from(eligible.subquery()))
    assert preview.eligible == filtered


def test_preview_counts_only_accounts_of_its_scope(book: Book) -> None:
    build_cases(book, (CASES[4], CASES[4]))
    with book.runtime.database.read_only() as db:
        live = preview_bulk_request(db, bulk_scope(book, livemode=True), NOW, select(Account))
        test = preview_bulk_request(db, bulk_scope(book), NOW, select(Account))
    assert (live.selected, live.eligible) == (0, 0)
    assert (test.selected, test.eligible, test.skipped) == (2, 2, {})


def test_bulk_session_has_the_columns_session_service_create_gives(book: Book) -> None:
    single, bulk = build_cases(book, (CASES[4], CASES[4]))
    scope = bulk_scope(book)
    with book.runtime.database.unit_of_work() as db:
        account = db.get(Account, single[0].id)
        assert account is not None
        by_service = SessionService(db, scope, book.runtime, EventContext()).create(
            NewSession(
                relink_authorization=account.authorization_id,
                relink_account=account.id,
                permissions=list(account.permissions),
                ui_mode="hosted",
                delivery_method="email",
                hosted_given=True,
                created_by=ACTOR,
            )
        )
        by_service_id = by_service.id
    _request(book, [bulk[0].id])
    with book.runtime.database.read_only() as db:
        expected = db.get(Session, by_service_id)
        (created,) = db.scalars(select(Session).where(Session.relink_account_id == bulk[0].id))
        assert expected is not None

    def comparable(session: Session) -> dict[str, object]:
        varying = {"id", "client_secret_digest", "link_token_digest", "relink_account_id"}
        varying |= {"relink_authorization_id", "customer_id", "created_at", "updated_at"}
        return {
            column.key: getattr(session, column.key)
            for column in Session.__table__.columns
            if column.key not in varying
        }

    assert comparable(created) == comparable(expected)
    assert created.relink_authorization_id == bulk[0].authorization_id
    assert created.customer_id == bulk[0].customer_id
    assert created.link_token_digest == token_digest(book.runtime.link_token(created.id))
    assert created.client_secret_digest == token_digest(book.runtime.client_secret(created.id))
    assert created.created_at == NOW


def test_each_created_session_gets_created_and_email_queued_timeline_entries(book: Book) -> None:
    built = build_cases(book, (CASES[4], CASES[5]))
    _request(book, [a.id for a, _ in built])
    sessions = bulk_sessions(book)
    assert len(sessions) == 2
    assert [timeline_kinds(book.runtime, s.id) for s in sessions] == [
        ["created", "email_queued"]
    ] * 2


def test_each_created_session_gets_one_relink_email_outbox_row(book: Book) -> None:
    built = build_cases(book, (CASES[4], CASES[5]))
    _request(book, [a.id for a, _ in built])
    sessions = bulk_sessions(book)
    rows = email_outbox_rows(book, [s.id for s in sessions])
    assert sorted((r.kind, r.payload["session_id"]) for r in rows) == sorted(
        (RELINK_EMAIL, s.id) for s in sessions
    )


def test_pending_hosted_session_of_an_eligible_account_is_superseded(book: Book) -> None:
    ((account, _),) = build_cases(
        book,
        (case_named("pending_request_created_exactly_48_hours_ago"),),
    )
    with book.runtime.database.read_only() as db:
        (old,) = db.scalars(select(Session).where(Session.relink_account_id == account.id))
    result = _request(book, [account.id])
    with book.runtime.database.read_only() as db:
        previous = db.get(Session, old.id)
        assert previous is not None
        events = list(db.scalars(select(Event).where(Event.object_id == old.id)))
    assert result.created == 1
    assert (previous.status, previous.cancelled_reason) == (SessionStatus.cancelled, "other")
    assert timeline_kinds(book.runtime, old.id)[-1] == "cancelled"
    assert [e.type for e in events] == ["financial_connections.session.updated"]


def test_second_request_skips_accounts_the_first_one_just_requested(book: Book) -> None:
    built = build_cases(book, (CASES[4], CASES[5]))
    ids = [a.id for a, _ in built]
    _request(book, ids)
    again = _request(book, ids)
    assert (again.created, again.skipped) == (0, {Reason.recent_request.value: 2})
    assert len(bulk_sessions(book)) == 2


def test_batches_report_progress_after_each_one(book: Book) -> None:
    built = build_cases(book, (CASES[4],) * 5)
    seen: list[tuple[int, int]] = []
    result = _request(
        book,
        [a.id for a, _ in built],
        batch_size=2,
        progress=lambda done, total: seen.append((done, total)),
    )
    assert seen == [(2, 5), (4, 5), (5, 5)]
    assert result.created == 5


def test_accounts_of_another_scope_in_the_selection_are_ignored(book: Book) -> None:
    built = build_cases(book, (CASES[4],))
    scope = bulk_scope(book, livemode=True)
    with book.runtime.database.unit_of_work() as db:
        result = request_relinks(db, scope, book.runtime, select(Account), actor=ACTOR)
    assert (result.created, result.skipped) == (0, {})
    assert bulk_sessions(book) == []
    assert built


def test_concurrent_bulk_requests_create_one_session_per_account(book: Book) -> None:
    built = build_cases(book, (CASES[4],) * 4)
    ids = [a.id for a, _ in built]
    scope = bulk_scope(book)
    first_wrote = threading.Event()
    results = {}

    def first() -> None:
        with book.runtime.database.unit_of_work() as db:
            results["first"] = request_relinks(
                db, scope, book.runtime, by_ids(scope, ids), actor=ACTOR
            )
            first_wrote.set()
            # Hold the transaction open so the second request runs against it.
            threading.Event().wait(0.5)

    def second() -> None:
        first_wrote.wait(10)
        with book.runtime.database.unit_of_work() as db:
            results["second"] = request_relinks(
                db, scope, book.runtime, by_ids(scope, ids[1:]), actor=ACTOR
            )

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    sessions = bulk_sessions(book)
    assert sorted(str(s.relink_account_id) for s in sessions) == sorted(ids)
    assert results["first"].created + results["second"].created == 4
    assert results["second"].skipped == {Reason.recent_request.value: 3}
    with book.runtime.database.read_only() as db:
        emails = db.scalar(
            select(func.count())
            .select_from(OutboxMessage)
            .where(
                OutboxMessage.kind == RELINK_EMAIL,
                OutboxMessage.platform_id == scope.platform_id,
            )
        )
    assert emails == 4


def test_bulk_request_emails_are_due_now_after_the_test_clock_was_advanced(book: Book) -> None:
    """The sandbox clock changes what the rules see, never when the worker sends."""
    built = build_cases(book, (CASES[4], CASES[5]))
    with book.runtime.database.unit_of_work() as db:
        advanced, _ = advance_test_clock(
            db, bulk_scope(book), 49 * 3600, EventContext(), SCOPE_SCANS
        )
    with book.runtime.database.unit_of_work() as db:
        result = request_relinks(
            db, advanced, book.runtime, by_ids(advanced, [a.id for a, _ in built]), actor=ACTOR
        )
    assert result.created == 2
    sessions = bulk_sessions(book)
    with book.runtime.database.read_only() as db:  # the claim is rolled back
        claimed = claim(
            db,
            "worker-test",
            lease=Lease.of(book.runtime.settings),
            limit=1000,
            kinds={RELINK_EMAIL},
        )
        mine = {m.payload["session_id"] for m in claimed if m.platform_id == book.platform_id}
    assert mine == {s.id for s in sessions}
    # The session itself lives on the sandbox clock: its rules see the advanced time.
    assert {s.created_at for s in sessions} == {advanced.now()}


def test_request_relinks_skips_every_account_while_hosted_relink_is_off(book: Book) -> None:
    built = build_cases(book)
    with book.runtime.database.unit_of_work() as db:
        platform = db.get(Platform, book.platform_id)
        assert platform is not None
        platform.hosted_relink_enabled = False
    test_mode_ids = [a.id for a, _ in built if not a.livemode]
    result = _request(book, test_mode_ids)
    assert result.created == 0
    assert result.skipped == {HOSTED_RELINK_DISABLED: len(test_mode_ids)}
    assert bulk_sessions(book) == []


def test_batch_size_must_be_positive(book: Book) -> None:
    with pytest.raises(ValueError):
        _request(book, [], batch_size=0)
