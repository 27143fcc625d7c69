"""Plain factory functions for bulk relink request tests (built on the eligibility
tests' book, which makes every kind of account eligibility distinguishes)."""

from __future__ import annotations

from collections import Counter

from sqlalchemy import Select, select

from relink.eligibility.query import primary_reason
from relink.models import Account, OutboxMessage, Session
from relink.tenancy import Scope
from tests.eligibility.cases import CASES, Case
from tests.eligibility.factories import Book, scope_of

ACTOR = "user:user_bulk_test"


def build_cases(book: Book, cases: tuple[Case, ...] = CASES) -> list[tuple[Account, Case]]:
    """One account per case, side by side in the book's platform."""
    with book.builder() as builder:
        return [(case.build(builder), case) for case in cases]


def case_named(name: str) -> Case:
    return next(case for case in CASES if case.name == name)


def by_ids(scope: Scope, account_ids: list[str]) -> Select[Account]:
    return select(Account).where(
        Account.platform_id == scope.platform_id,
        Account.livemode == scope.livemode,
        Account.id.in_(account_ids),
    )


def bulk_scope(book: Book, *, livemode: bool = False) -> Scope:
    return scope_of(book.platform_id, livemode=livemode)


def expected_skips(built: list[tuple[Account, Case]], *, livemode: bool) -> dict[str, int]:
    counts: Counter[str] = Counter()
    for account, case in built:
        reason = primary_reason(case.reasons)
        if account.livemode == livemode and reason is not None:
            counts[reason.value] += 1
    return dict(sorted(counts.items()))


def eligible_ids(built: list[tuple[Account, Case]], *, livemode: bool) -> set[str]:
    return {a.id for a, case in built if a.livemode == livemode and not case.reasons}


def bulk_sessions(book: Book, actor: str = ACTOR) -> list[Session]:
    """Sessions the bulk request created in the book's platform, oldest first."""
    with book.runtime.database.read_only() as db:
        return list(
            db.scalars(
                select(Session)
                .where(Session.platform_id == book.platform_id, Session.created_by == actor)
                .order_by(Session.id)
            )
        )


def email_outbox_rows(book: Book, session_ids: list[str]) -> list[OutboxMessage]:
    with book.runtime.database.read_only() as db:
        return list(
            db.scalars(
                select(OutboxMessage).where(
                    OutboxMessage.dedupe_key.in_([f"email:relink:{s}" for s in session_ids])
                )
            )
        )
