"""eligible_accounts: the bulk SQL agrees with the single-account service on every case."""

from __future__ import annotations

import datetime as dt

from relink.eligibility.query import eligible_accounts
from relink.eligibility.rules import Reason
from relink.tenancy import Scope
from tests.eligibility import cases
from tests.eligibility.cases import CASES
from tests.eligibility.factories import NOW, Book


def test_bulk_query_returns_exactly_the_accounts_the_service_calls_eligible(book: Book) -> None:
    with book.builder() as builder:
        built = {case.name: case.build(builder) for case in CASES}
    in_bulk = book.bulk(livemode=False) | book.bulk(livemode=True)
    by_query = {name: account.id in in_bulk for name, account in built.items()}
    by_service = {name: book.check(account.id).eligible for name, account in built.items()}
    assert by_query == by_service
    assert by_service == {case.name: not case.reasons for case in CASES}
    assert in_bulk <= {account.id for account in built.values()}


def test_cases_cover_every_reason() -> None:
    assert {reason for case in CASES for reason in case.reasons} == set(Reason)
    assert any(not case.reasons for case in CASES)


def test_bulk_query_sees_only_its_platform_and_mode(book: Book) -> None:
    account = book.build(cases.tan_expired)
    with book.runtime.database.read_only() as session:

        def ids(scope: Scope) -> list[str]:
            return [found.id for found in session.scalars(eligible_accounts(scope, NOW))]

        assert ids(Scope(account.platform_id, livemode=False)) == [account.id]
        assert ids(Scope(account.platform_id, livemode=True)) == []
        assert ids(Scope("acct_another_platform", livemode=False)) == []


def test_bulk_query_compares_due_dates_with_the_given_now(book: Book) -> None:
    account = book.build(cases.tan_expiring_in_30_days_and_1_second)
    assert book.bulk(now=NOW) == set()
    assert book.bulk(now=NOW + dt.timedelta(seconds=1)) == {account.id}


def test_bulk_query_lets_a_pending_request_block_until_48_hours_have_passed(book: Book) -> None:
    account = book.build(cases.pending_request_created_48_hours_minus_1_second_ago)
    assert book.bulk(now=NOW) == set()
    assert book.bulk(now=NOW + dt.timedelta(seconds=1)) == {account.id}
