"""AccountFilter: the Accounts page's filters and search as one scoped SELECT."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import update

from relink.accounts.filters import AccountFilter, filtered_accounts
from relink.eligibility.rules import ABOUT_TO_BREAK
from relink.models import Account, ConnectedAccount, Customer, InactiveCause, TanStatus
from tests.eligibility import cases
from tests.eligibility.conftest import book, frozen_clock
from tests.eligibility.factories import NOW, Book, Builder, scope_of

__all__ = ["book", "frozen_clock"]  # fixtures used by this module


def _matching(book: Book, account_filter: AccountFilter, *, livemode: bool = False) -> set[str]:
    scope = scope_of(book.platform_id, livemode=livemode)
    with book.runtime.database.read_only() as db:
        return {a.id for a in db.scalars(filtered_accounts(scope, NOW, account_filter))}


def _holder(builder: Builder, account: Account, *, name: str | None = None) -> None:
    if account.customer_id is not None:
        builder.session.execute(
            update(Customer).where(Customer.id == account.customer_id).values(name=name)
        )
    else:
        builder.session.execute(
            update(ConnectedAccount)
            .where(ConnectedAccount.id == account.connected_account_id)
            .values(business_name=name)
        )


def _set_last4(builder: Builder, account: Account, last4: str) -> None:
    account.last4 = last4
    builder.session.flush()


def test_empty_filter_matches_every_account_of_the_scope(book: Book) -> None:
    with book.builder() as builder:
        ours = {builder.account().id, builder.account(email=None).id}
        builder.account(livemode=True)
    assert _matching(book, AccountFilter()) == ours


def test_status_filter_matches_the_status(book: Book) -> None:
    with book.builder() as builder:
        builder.account()
        inactive = cases.inactive_relink_required(builder)
    assert _matching(book, AccountFilter(status="inactive")) == {inactive.id}


def test_cause_filter_matches_the_inactive_cause(book: Book) -> None:
    with book.builder() as builder:
        cases.inactive_relink_required(builder)
        closed = builder.account()
        builder.lifecycle().deactivate(closed, InactiveCause.account_closed)
    assert _matching(book, AccountFilter(cause="account_closed")) == {closed.id}


def test_eligible_filter_matches_what_the_eligibility_query_calls_eligible(book: Book) -> None:
    with book.builder() as builder:
        for case in cases.CASES:
            case.build(builder)
    assert _matching(book, AccountFilter(eligible=True)) == book.bulk()
    assert book.bulk()


def test_tan_expiring_filter_matches_tans_expiring_within_30_days_or_expired(
    book: Book,
) -> None:
    with book.builder() as builder:
        soon = cases.tan_expiring_in_exactly_30_days(builder)
        passed = cases.tan_expiry_date_passed(builder)
        expired = cases.tan_expired(builder)
        deactivated = cases.tan_deactivated(builder)
        cases.tan_expiring_in_30_days_and_1_second(builder)
        cases.healthy(builder)
        later = builder.account()
        builder.lifecycle().update_account_numbers(
            later, expected_expiry_at=NOW + ABOUT_TO_BREAK + dt.timedelta(days=5), status=None
        )
    assert _matching(book, AccountFilter(tan_expiring=True)) == {
        soon.id,
        passed.id,
        expired.id,
        deactivated.id,
    }


def test_tan_expiring_filter_skips_a_transactable_tan_without_an_expiry(book: Book) -> None:
    with book.builder() as builder:
        account = builder.account()
        builder.lifecycle().update_account_numbers(
            account, expected_expiry_at=None, status=TanStatus.transactable
        )
    assert _matching(book, AccountFilter(tan_expiring=True)) == set()


def test_institution_filter_matches_the_institution(book: Book) -> None:
    with book.builder() as builder:
        builder.account()
        other = builder.account(institution_id=book.unsupported_institution)
    assert _matching(book, AccountFilter(institution=book.unsupported_institution)) == {other.id}


def test_holder_filter_matches_a_customer(book: Book) -> None:
    with book.builder() as builder:
        account = builder.account()
        builder.account()
    assert _matching(book, AccountFilter(holder=account.customer_id)) == {account.id}


def test_holder_filter_matches_a_connected_account(book: Book) -> None:
    with book.builder() as builder:
        account = builder.account(connected=True)
        builder.account()
    assert _matching(book, AccountFilter(holder=account.connected_account_id)) == {account.id}


def test_holder_filter_with_another_kind_of_id_matches_nothing(book: Book) -> None:
    with book.builder() as builder:
        builder.account()
    assert _matching(book, AccountFilter(holder="fca_123")) == set()


def test_search_by_account_id_matches_that_account(book: Book) -> None:
    with book.builder() as builder:
        account = builder.account()
        builder.account()
    assert _matching(book, AccountFilter(search=account.id)) == {account.id}


def test_search_by_email_matches_the_holders_accounts_in_any_case(book: Book) -> None:
    with book.builder() as builder:
        account = builder.account(email="jane.doe@example.com")
        builder.account(email="john@example.com")
    assert _matching(book, AccountFilter(search="Jane.Doe@Example.com")) == {account.id}


def test_search_by_email_prefix_matches_the_holder(book: Book) -> None:
    with book.builder() as builder:
        account = builder.account(email="jane.doe@example.com")
        builder.account(email="john@example.com")
    assert _matching(book, AccountFilter(search="jane")) == {account.id}


def test_search_by_last4_matches_the_account(book: Book) -> None:
    with book.builder() as builder:
        account = builder.account()
        _set_last4(builder, account, "6789")
        other = builder.account()
        _set_last4(builder, other, "1234")
    assert _matching(book, AccountFilter(search="6789")) == {account.id}


def test_search_by_a_word_of_the_holders_name_matches(book: Book) -> None:
    with book.builder() as builder:
        account = builder.account()
        _holder(builder, account, name="Jane Doe")
        connected = builder.account(connected=True)
        _holder(builder, connected, name="Doe Holdings")
        other = builder.account()
        _holder(builder, other, name="Jane Smith")
    assert _matching(book, AccountFilter(search="doe")) == {account.id, connected.id}


def test_search_treats_like_wildcards_as_text(book: Book) -> None:
    with book.builder() as builder:
        account = builder.account()
        _holder(builder, account, name="Jane Doe")
    assert _matching(book, AccountFilter(search="%")) == set()
    assert _matching(book, AccountFilter(search="J_ne")) == set()


def test_filters_combine_with_and(book: Book) -> None:
    with book.builder() as builder:
        both = cases.inactive_relink_required(builder)
        cases.inactive_account_closed(builder)
        cases.tan_expired(builder)
    assert _matching(book, AccountFilter(status="inactive", eligible=True)) == {both.id}


def test_filter_never_matches_another_platforms_or_modes_accounts(book: Book) -> None:
    with book.builder() as builder:
        live = builder.account(livemode=True)
    assert _matching(book, AccountFilter(search=live.id)) == set()
    assert _matching(book, AccountFilter(search=live.id), livemode=True) == {live.id}


def test_to_dict_keeps_only_the_fields_that_are_set() -> None:
    assert AccountFilter(status="inactive", eligible=True).to_dict() == {
        "status": "inactive",
        "eligible": True,
    }


def test_from_dict_reads_back_to_dict() -> None:
    account_filter = AccountFilter(
        status="inactive",
        cause="access_expired",
        eligible=True,
        tan_expiring=True,
        institution="fcinst_bank_oauth",
        holder="cus_123",
        search="jane",
    )
    assert AccountFilter.from_dict(account_filter.to_dict()) == account_filter


def test_from_dict_reads_form_values_with_blanks_as_unset() -> None:
    form = {"status": "", "eligible": "on", "tan_expiring": "0", "search": "  jane ", "x": "1"}
    assert AccountFilter.from_dict(form) == AccountFilter(eligible=True, search="jane")


def test_search_by_holder_id_matches_the_holders_accounts(book: Book) -> None:
    with book.builder() as builder:
        account = builder.account()
        builder.account()
    assert _matching(book, AccountFilter(search=account.customer_id)) == {account.id}


def test_without_email_matches_customers_and_connected_accounts_with_no_address(
    book: Book,
) -> None:
    with book.builder() as builder:
        customer = builder.account(email=None)
        connected = builder.account(email=None, connected=True)
        builder.account(email="reachable@example.com")
        builder.account(email="reachable@example.com", connected=True)
        builder.account(email=None, livemode=True)
    assert _matching(book, AccountFilter(without_email=True)) == {customer.id, connected.id}


def test_without_email_combines_with_the_other_filters(book: Book) -> None:
    with book.builder() as builder:
        builder.account(email=None)
        inactive = cases.inactive_relink_required(builder)
        builder.session.execute(
            update(Customer).where(Customer.id == inactive.customer_id).values(email=None)
        )
        cases.inactive_relink_required(builder)
    assert _matching(book, AccountFilter(without_email=True, status="inactive")) == {inactive.id}


def test_search_by_an_email_domain_matches_the_holders_at_it_in_any_case(book: Book) -> None:
    with book.builder() as builder:
        customer = builder.account(email="jane@Example.com")
        connected = builder.account(email="ops@example.com", connected=True)
        builder.account(email="jane@example.com.evil.test")
        builder.account(email="jane@notexample.com")
        builder.account(email="jane@example.org")
    expected = {customer.id, connected.id}
    assert _matching(book, AccountFilter(search="@example.com")) == expected
    assert _matching(book, AccountFilter(search="EXAMPLE.COM")) == expected


def test_search_by_a_domain_treats_like_wildcards_as_text(book: Book) -> None:
    with book.builder() as builder:
        builder.account(email="jane@example.com")
    assert _matching(book, AccountFilter(search="@%.com")) == set()
    assert _matching(book, AccountFilter(search="@exampl_.com")) == set()


def test_search_by_a_domain_combines_with_the_other_filters(book: Book) -> None:
    with book.builder() as builder:
        inactive = cases.inactive_relink_required(builder)
        builder.session.execute(
            update(Customer)
            .where(Customer.id == inactive.customer_id)
            .values(email="broken@bank-customers.test")
        )
        builder.account(email="working@bank-customers.test")
    found = _matching(book, AccountFilter(search="@bank-customers.test", status="inactive"))
    assert found == {inactive.id}


def test_from_dict_reads_without_email_and_to_dict_keeps_it() -> None:
    account_filter = AccountFilter.from_dict({"without_email": "1", "search": "@example.com"})
    assert account_filter == AccountFilter(without_email=True, search="@example.com")
    assert AccountFilter.from_dict(account_filter.to_dict()) == account_filter
