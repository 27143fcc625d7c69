"""eligible_for_hosted_relink: every rule of spec 20-relink §1 for one account."""

from __future__ import annotations

import datetime as dt

from relink.eligibility.rules import MESSAGES, RECENT_REQUEST, Reason
from relink.eligibility.service import Eligibility, render_eligibility
from relink.kit.clock import to_unix
from tests.eligibility import cases
from tests.eligibility.factories import NOW, Book, CaseBuilder, create_relink_request


def reasons(book: Book, case: CaseBuilder) -> list[Reason]:
    return book.check(book.build(case).id).reasons


# -- rule 1: broken or about to break ------------------------------------------------------


def test_active_account_with_nothing_foreseen_is_not_broken(book: Book) -> None:
    assert reasons(book, cases.healthy) == [Reason.not_broken]


def test_tan_expiring_in_exactly_30_days_is_eligible(book: Book) -> None:
    assert reasons(book, cases.tan_expiring_in_exactly_30_days) == []


def test_tan_expiring_in_30_days_and_1_second_is_not_broken(book: Book) -> None:
    assert reasons(book, cases.tan_expiring_in_30_days_and_1_second) == [Reason.not_broken]


def test_tan_becomes_eligible_one_second_later(book: Book) -> None:
    account = book.build(cases.tan_expiring_in_30_days_and_1_second)
    assert book.check(account.id, now=NOW + dt.timedelta(seconds=1)).eligible


def test_tan_whose_expiry_date_passed_is_eligible(book: Book) -> None:
    assert reasons(book, cases.tan_expiry_date_passed) == []


def test_expired_tan_is_eligible(book: Book) -> None:
    assert reasons(book, cases.tan_expired) == []


def test_deactivated_tan_is_eligible(book: Book) -> None:
    assert reasons(book, cases.tan_deactivated) == []


def test_expected_deactivation_in_exactly_30_days_is_eligible(book: Book) -> None:
    assert reasons(book, cases.deactivation_expected_in_exactly_30_days) == []


def test_expected_deactivation_in_30_days_and_1_second_is_not_broken(book: Book) -> None:
    assert reasons(book, cases.deactivation_expected_in_30_days_and_1_second) == [Reason.not_broken]


def test_inactive_with_relink_required_is_eligible(book: Book) -> None:
    assert reasons(book, cases.inactive_relink_required) == []


def test_inactive_closed_account_is_not_repairable(book: Book) -> None:
    assert reasons(book, cases.inactive_account_closed) == [Reason.not_repairable]


def test_closed_account_with_expired_tan_is_still_not_repairable(book: Book) -> None:
    assert reasons(book, cases.inactive_account_closed_with_expired_tan) == [Reason.not_repairable]


# -- rule 4: not disconnected, institution supports relink ---------------------------------


def test_disconnected_account_is_refused_as_disconnected(book: Book) -> None:
    assert reasons(book, cases.disconnected_with_expired_tan) == [Reason.disconnected]


def test_disconnected_account_is_no_longer_relink_required(book: Book) -> None:
    assert reasons(book, cases.disconnected_after_relink_required) == [
        Reason.not_broken,
        Reason.disconnected,
    ]


def test_institution_without_relink_support_is_unsupported(book: Book) -> None:
    assert reasons(book, cases.institution_without_relink) == [Reason.institution_unsupported]


# -- rule 2: no recent request ------------------------------------------------------------


def test_pending_request_created_exactly_48_hours_ago_no_longer_blocks(book: Book) -> None:
    assert reasons(book, cases.pending_request_created_exactly_48_hours_ago) == []


def test_pending_request_created_48_hours_minus_1_second_ago_is_recent(book: Book) -> None:
    account = book.build(cases.pending_request_created_48_hours_minus_1_second_ago)
    result = book.check(account.id)
    assert result.reasons == [Reason.recent_request]
    assert result.next_eligible_at == NOW + dt.timedelta(seconds=1)


def test_next_eligible_at_is_48_hours_after_the_latest_pending_request(book: Book) -> None:
    with book.builder() as builder:
        account = cases.inactive_relink_required(builder)
        created = NOW - dt.timedelta(hours=5, minutes=30)
        create_relink_request(builder.session, account, created_at=created)
    assert book.check(account.id).next_eligible_at == created + RECENT_REQUEST


def test_succeeded_request_within_48_hours_does_not_block(book: Book) -> None:
    assert reasons(book, cases.succeeded_request_an_hour_ago) == []


def test_failed_request_within_48_hours_does_not_block(book: Book) -> None:
    assert reasons(book, cases.failed_request_an_hour_ago) == []


def test_cancelled_request_within_48_hours_does_not_block(book: Book) -> None:
    assert reasons(book, cases.cancelled_request_an_hour_ago) == []


def test_next_eligible_at_is_none_without_a_recent_request(book: Book) -> None:
    account = book.build(cases.pending_request_created_exactly_48_hours_ago)
    assert book.check(account.id).next_eligible_at is None


# -- rule 3: reachable holder -------------------------------------------------------------


def test_connected_account_holder_with_email_is_eligible(book: Book) -> None:
    assert reasons(book, cases.connected_account_holder_with_email) == []


def test_connected_account_holder_without_email_is_missing_email(book: Book) -> None:
    assert reasons(book, cases.connected_account_holder_without_email) == [Reason.missing_email]


def test_customer_without_email_is_missing_email(book: Book) -> None:
    assert reasons(book, cases.customer_without_email) == [Reason.missing_email]


def test_customer_with_empty_email_is_missing_email(book: Book) -> None:
    assert reasons(book, cases.customer_with_empty_email) == [Reason.missing_email]


def test_deleted_customer_is_missing_email(book: Book) -> None:
    assert reasons(book, cases.deleted_customer) == [Reason.missing_email]


def test_account_without_any_holder_is_missing_email(book: Book) -> None:
    assert reasons(book, cases.holderless_account) == [Reason.missing_email]


def test_sandbox_email_of_no_team_user_is_unconfirmed(book: Book) -> None:
    assert reasons(book, cases.sandbox_email_of_no_team_user) == [Reason.unconfirmed_test_email]


def test_sandbox_email_of_unconfirmed_team_user_is_unconfirmed(book: Book) -> None:
    assert reasons(book, cases.sandbox_email_of_unconfirmed_team_user) == [
        Reason.unconfirmed_test_email
    ]


def test_sandbox_email_of_another_platforms_user_is_unconfirmed(book: Book) -> None:
    assert reasons(book, cases.sandbox_email_of_another_platforms_confirmed_user) == [
        Reason.unconfirmed_test_email
    ]


def test_sandbox_email_of_confirmed_team_user_matches_case_insensitively(book: Book) -> None:
    assert reasons(book, cases.sandbox_email_of_confirmed_team_user_in_other_case) == []


def test_live_mode_does_not_require_a_team_user_email(book: Book) -> None:
    assert reasons(book, cases.live_mode_email_of_no_team_user) == []


def test_live_mode_holder_without_email_is_missing_email(book: Book) -> None:
    assert reasons(book, cases.live_mode_without_email) == [Reason.missing_email]


# -- all rules at once, and the rendered answer ----------------------------------------------


def test_every_failed_rule_is_reported_in_rule_order(book: Book) -> None:
    assert reasons(book, cases.every_rule_failing) == [
        Reason.not_broken,
        Reason.recent_request,
        Reason.missing_email,
        Reason.disconnected,
        Reason.institution_unsupported,
    ]


def test_eligible_is_true_only_without_reasons() -> None:
    assert Eligibility("fca_1").eligible is True
    assert Eligibility("fca_1", [Reason.missing_email]).eligible is False


def test_render_lists_each_reason_with_its_message_and_next_eligible_at() -> None:
    at = NOW + dt.timedelta(hours=3)
    rendered = render_eligibility(
        Eligibility("fca_1", [Reason.recent_request, Reason.missing_email], at)
    )
    assert rendered == {
        "object": "financial_connections.relink_eligibility",
        "account": "fca_1",
        "eligible": False,
        "reasons": [
            {"code": "recent_request", "message": MESSAGES[Reason.recent_request]},
            {"code": "missing_email", "message": MESSAGES[Reason.missing_email]},
        ],
        "next_eligible_at": to_unix(at),
    }


def test_render_of_an_eligible_account_has_no_reasons_and_no_next_eligible_at() -> None:
    assert render_eligibility(Eligibility("fca_1")) == {
        "object": "financial_connections.relink_eligibility",
        "account": "fca_1",
        "eligible": True,
        "reasons": [],
        "next_eligible_at": None,
    }


def test_every_reason_has_a_message() -> None:
    assert set(MESSAGES) == set(Reason)
