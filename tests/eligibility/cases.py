"""One builder per kind of account that eligibility distinguishes, with its expected reasons.

The service tests call the builders one by one; the query tests check that the bulk SQL
agrees with the expected answer for each, and for all of them built side by side.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from relink.eligibility.rules import ABOUT_TO_BREAK, RECENT_REQUEST, Reason
from relink.kit import ids
from relink.models import (
    Account,
    ConsentActor,
    Customer,
    EmailSuppression,
    InactiveCause,
    SessionStatus,
    SuppressionReason,
    TanStatus,
)
from tests.eligibility.factories import (
    NOW,
    Builder,
    CaseBuilder,
    create_account,
    create_platform,
    create_relink_request,
    create_team_user,
)

ONE_SECOND = dt.timedelta(seconds=1)


def healthy(book: Builder) -> Account:
    return book.account()


def tan_expiring_in_exactly_30_days(book: Builder) -> Account:
    account = book.account()
    book.lifecycle().update_account_numbers(
        account, expected_expiry_at=NOW + ABOUT_TO_BREAK, status=None
    )
    return account


def tan_expiring_in_30_days_and_1_second(book: Builder) -> Account:
    account = book.account()
    book.lifecycle().update_account_numbers(
        account, expected_expiry_at=NOW + ABOUT_TO_BREAK + ONE_SECOND, status=None
    )
    return account


def tan_expiry_date_passed(book: Builder) -> Account:
    account = book.account()
    book.lifecycle().update_account_numbers(
        account, expected_expiry_at=NOW - dt.timedelta(days=1), status=None
    )
    return account


def tan_expired(book: Builder) -> Account:
    account = book.account()
    book.lifecycle().update_account_numbers(
        account, expected_expiry_at=None, status=TanStatus.expired
    )
    return account


def tan_deactivated(book: Builder) -> Account:
    account = book.account()
    book.lifecycle().update_account_numbers(
        account, expected_expiry_at=None, status=TanStatus.deactivated
    )
    return account


def deactivation_expected_in_exactly_30_days(book: Builder) -> Account:
    account = book.account()
    book.lifecycle().set_expected_deactivation(account, NOW + ABOUT_TO_BREAK)
    return account


def deactivation_expected_in_30_days_and_1_second(book: Builder) -> Account:
    account = book.account()
    book.lifecycle().set_expected_deactivation(account, NOW + ABOUT_TO_BREAK + ONE_SECOND)
    return account


def inactive_relink_required(book: Builder) -> Account:
    account = book.account()
    book.lifecycle().deactivate(account, InactiveCause.access_expired)
    return account


def inactive_account_closed(book: Builder) -> Account:
    account = book.account()
    book.lifecycle().deactivate(account, InactiveCause.account_closed)
    return account


def inactive_account_closed_with_expired_tan(book: Builder) -> Account:
    account = tan_expired(book)
    book.lifecycle().deactivate(account, InactiveCause.account_closed)
    return account


def disconnected_with_expired_tan(book: Builder) -> Account:
    account = tan_expired(book)
    book.lifecycle().disconnect(account, actor=ConsentActor.platform)
    return account


def disconnected_after_relink_required(book: Builder) -> Account:
    account = inactive_relink_required(book)
    book.lifecycle().disconnect(account, actor=ConsentActor.platform)
    return account


def pending_request_created_exactly_48_hours_ago(book: Builder) -> Account:
    account = inactive_relink_required(book)
    create_relink_request(book.session, account, created_at=NOW - RECENT_REQUEST)
    return account


def pending_request_created_48_hours_minus_1_second_ago(book: Builder) -> Account:
    account = inactive_relink_required(book)
    create_relink_request(book.session, account, created_at=NOW - RECENT_REQUEST + ONE_SECOND)
    return account


def _finished_request_an_hour_ago(book: Builder, status: SessionStatus) -> Account:
    account = inactive_relink_required(book)
    create_relink_request(
        book.session, account, created_at=NOW - dt.timedelta(hours=1), status=status
    )
    return account


def succeeded_request_an_hour_ago(book: Builder) -> Account:
    return _finished_request_an_hour_ago(book, SessionStatus.succeeded)


def failed_request_an_hour_ago(book: Builder) -> Account:
    return _finished_request_an_hour_ago(book, SessionStatus.failed)


def cancelled_request_an_hour_ago(book: Builder) -> Account:
    return _finished_request_an_hour_ago(book, SessionStatus.cancelled)


def connected_account_holder_with_email(book: Builder) -> Account:
    account = book.account(connected=True)
    book.lifecycle().deactivate(account, InactiveCause.access_expired)
    return account


def connected_account_holder_without_email(book: Builder) -> Account:
    account = book.account(connected=True, email=None)
    book.lifecycle().deactivate(account, InactiveCause.access_expired)
    return account


def customer_without_email(book: Builder) -> Account:
    account = book.account(email=None)
    book.lifecycle().deactivate(account, InactiveCause.access_expired)
    return account


def customer_with_empty_email(book: Builder) -> Account:
    account = book.account(email="")
    book.lifecycle().deactivate(account, InactiveCause.access_expired)
    return account


def deleted_customer(book: Builder) -> Account:
    account = book.account()
    book.lifecycle().deactivate(account, InactiveCause.access_expired)
    customer = book.session.get(Customer, account.customer_id)
    assert customer is not None
    customer.deleted = True
    return account


def holderless_account(book: Builder) -> Account:
    account = create_account(book.session, book.scope())
    book.lifecycle().deactivate(account, InactiveCause.access_expired)
    return account


def sandbox_email_of_no_team_user(book: Builder) -> Account:
    account = book.account(email="holder@example.com")
    book.lifecycle().deactivate(account, InactiveCause.access_expired)
    return account


def sandbox_email_of_unconfirmed_team_user(book: Builder) -> Account:
    user = create_team_user(book.session, book.platform_id, confirmed=False)
    account = book.account(email=user.email)
    book.lifecycle().deactivate(account, InactiveCause.access_expired)
    return account


def sandbox_email_of_confirmed_team_user_in_other_case(book: Builder) -> Account:
    user = create_team_user(book.session, book.platform_id, confirmed=True)
    account = book.account(email=user.email.upper())
    book.lifecycle().deactivate(account, InactiveCause.access_expired)
    return account


def sandbox_email_of_another_platforms_confirmed_user(book: Builder) -> Account:
    _, other_owner = create_platform(book.session)
    account = book.account(email=other_owner.email)
    book.lifecycle().deactivate(account, InactiveCause.access_expired)
    return account


def live_mode_email_of_no_team_user(book: Builder) -> Account:
    account = book.account(email="holder@example.com", livemode=True)
    book.lifecycle(livemode=True).deactivate(account, InactiveCause.access_expired)
    return account


def live_mode_without_email(book: Builder) -> Account:
    account = book.account(email=None, livemode=True)
    book.lifecycle(livemode=True).deactivate(account, InactiveCause.access_expired)
    return account


def institution_without_relink(book: Builder) -> Account:
    account = book.account(institution_id=book.unsupported_institution)
    book.lifecycle().deactivate(account, InactiveCause.access_expired)
    return account


def institution_unavailable(book: Builder) -> Account:
    account = book.account(institution_id=book.unavailable_institution)
    book.lifecycle().deactivate(account, InactiveCause.access_expired)
    return account


def _suppressed(
    book: Builder, *, livemode: bool = False, lifted: bool = False, until_days: int | None = None
) -> Account:
    """A confirmed team address on the suppression list of the test mode (unless
    ``livemode``), lifted or expiring as asked."""
    user = create_team_user(book.session, book.platform_id, confirmed=True)
    account = book.account(email=user.email)
    book.lifecycle().deactivate(account, InactiveCause.access_expired)
    book.session.add(
        EmailSuppression(
            id=ids.new("sup"),
            platform_id=book.platform_id,
            livemode=livemode,
            address=user.email.lower(),
            reason=SuppressionReason.bounced,
            suppressed_at=NOW - dt.timedelta(days=1),
            until=NOW + dt.timedelta(days=until_days) if until_days is not None else None,
            lifted_at=NOW if lifted else None,
            transient_failures=0,
            updated_at=NOW,
        )
    )
    book.session.flush()
    return account


def suppressed_address(book: Builder) -> Account:
    return _suppressed(book)


def suppressed_address_lifted(book: Builder) -> Account:
    return _suppressed(book, lifted=True)


def suppressed_address_for_a_while_still_suppressed(book: Builder) -> Account:
    return _suppressed(book, until_days=1)


def suppressed_address_for_a_while_that_passed(book: Builder) -> Account:
    return _suppressed(book, until_days=0)


def address_suppressed_in_live_mode_only(book: Builder) -> Account:
    return _suppressed(book, livemode=True)


def every_rule_failing(book: Builder) -> Account:
    account = book.account(email=None, institution_id=book.unsupported_institution)
    book.lifecycle().disconnect(account, actor=ConsentActor.platform)
    create_relink_request(book.session, account, created_at=NOW - dt.timedelta(hours=1))
    return account


@dataclass(frozen=True)
class Case:
    build: CaseBuilder
    reasons: tuple[Reason, ...]

    @property
    def name(self) -> str:
        return self.build.__name__


CASES: tuple[Case, ...] = (
    Case(healthy, (Reason.not_broken,)),
    Case(tan_expiring_in_exactly_30_days, ()),
    Case(tan_expiring_in_30_days_and_1_second, (Reason.not_broken,)),
    Case(tan_expiry_date_passed, ()),
    Case(tan_expired, ()),
    Case(tan_deactivated, ()),
    Case(deactivation_expected_in_exactly_30_days, ()),
    Case(deactivation_expected_in_30_days_and_1_second, (Reason.not_broken,)),
    Case(inactive_relink_required, ()),
    Case(inactive_account_closed, (Reason.not_repairable,)),
    Case(inactive_account_closed_with_expired_tan, (Reason.not_repairable,)),
    Case(disconnected_with_expired_tan, (Reason.disconnected,)),
    Case(disconnected_after_relink_required, (Reason.not_broken, Reason.disconnected)),
    Case(pending_request_created_exactly_48_hours_ago, ()),
    Case(pending_request_created_48_hours_minus_1_second_ago, (Reason.recent_request,)),
    Case(succeeded_request_an_hour_ago, ()),
    Case(failed_request_an_hour_ago, ()),
    Case(cancelled_request_an_hour_ago, ()),
    Case(connected_account_holder_with_email, ()),
    Case(connected_account_holder_without_email, (Reason.missing_email,)),
    Case(customer_without_email, (Reason.missing_email,)),
    Case(customer_with_empty_email, (Reason.missing_email,)),
    Case(deleted_customer, (Reason.missing_email,)),
    Case(holderless_account, (Reason.missing_email,)),
    Case(sandbox_email_of_no_team_user, (Reason.unconfirmed_test_email,)),
    Case(sandbox_email_of_unconfirmed_team_user, (Reason.unconfirmed_test_email,)),
    Case(sandbox_email_of_confirmed_team_user_in_other_case, ()),
    Case(sandbox_email_of_another_platforms_confirmed_user, (Reason.unconfirmed_test_email,)),
    Case(live_mode_email_of_no_team_user, ()),
    Case(live_mode_without_email, (Reason.missing_email,)),
    Case(institution_without_relink, (Reason.institution_unsupported,)),
    Case(institution_unavailable, (Reason.institution_unavailable,)),
    Case(suppressed_address, (Reason.email_undeliverable,)),
    Case(suppressed_address_lifted, ()),
    Case(suppressed_address_for_a_while_still_suppressed, (Reason.email_undeliverable,)),
    Case(suppressed_address_for_a_while_that_passed, ()),
    Case(address_suppressed_in_live_mode_only, ()),
    Case(
        every_rule_failing,
        (
            Reason.not_broken,
            Reason.recent_request,
            Reason.missing_email,
            Reason.disconnected,
            Reason.institution_unsupported,
        ),
    ),
)
