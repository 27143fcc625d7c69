"""The rules in SQL: the eligible filter, the skip reason and the single-account answer
agree with every case's expected reasons."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from relink.eligibility.query import (
    REASON_PRIORITY,
    eligible_accounts,
    failed_reasons,
    primary_reason,
    rules,
    skip_reason,
)
from relink.eligibility.rules import Reason
from relink.models import Account
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


def _skip_reasons(book: Book, ids: list[str]) -> dict[str, str | None]:
    found: dict[str, str | None] = {}
    with book.runtime.database.read_only() as session:
        for account_id in ids:
            account = session.get(Account, account_id)
            assert account is not None
            scope = Scope(account.platform_id, livemode=account.livemode)
            found[account_id] = session.scalar(
                select(skip_reason(scope, NOW)).where(Account.id == account_id)
            )
    return found


def test_skip_reason_is_the_first_expected_reason_by_priority_on_every_case(book: Book) -> None:
    with book.builder() as builder:
        built = {case.name: case.build(builder).id for case in CASES}
    skip = _skip_reasons(book, list(built.values()))
    by_sql = {name: skip[account_id] for name, account_id in built.items()}
    expected = {
        case.name: (None if not case.reasons else str(primary_reason(case.reasons)))
        for case in CASES
    }
    assert by_sql == expected


def test_without_delivery_rules_only_the_repair_rules_are_checked(book: Book) -> None:
    delivery = {
        Reason.recent_request,
        Reason.missing_email,
        Reason.unconfirmed_test_email,
        Reason.institution_unavailable,
        Reason.email_undeliverable,
    }
    with book.builder() as builder:
        built = {case.name: case.build(builder).id for case in CASES}
    with book.runtime.database.read_only() as session:
        for case in CASES:
            account = session.get(Account, built[case.name])
            assert account is not None
            scope = Scope(account.platform_id, livemode=account.livemode)
            reasons = failed_reasons(session, scope, account.id, NOW, delivery_rules=False)
            assert reasons == [reason for reason in case.reasons if reason not in delivery], (
                case.name
            )


def test_rules_list_every_reason_once_in_test_mode_and_all_but_the_team_rule_live() -> None:
    test_mode = [rule.reason for rule in rules(Scope("acct_x", livemode=False), NOW)]
    live_mode = [rule.reason for rule in rules(Scope("acct_x", livemode=True), NOW)]
    assert sorted(test_mode) == sorted(Reason)
    assert sorted(live_mode) == sorted(set(Reason) - {Reason.unconfirmed_test_email})
    assert set(REASON_PRIORITY) == set(Reason)


def test_primary_reason_of_no_reasons_is_none() -> None:
    assert primary_reason([]) is None
    assert primary_reason([Reason.missing_email, Reason.disconnected]) == Reason.disconnected
