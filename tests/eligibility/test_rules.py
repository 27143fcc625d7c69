"""relink_due_at: when an account becomes "broken or about to break" (spec 20-relink §1 rule 1)."""

from __future__ import annotations

import datetime as dt

from relink.eligibility.rules import ABOUT_TO_BREAK, BROKEN_SINCE_EVER, relink_due_at
from relink.models import Account, AccountNumber, ConnectionStatus, RelinkAction, TanStatus

AT = dt.datetime(2026, 3, 2, 12, 0, tzinfo=dt.UTC)


def account(
    status: ConnectionStatus = ConnectionStatus.active,
    *,
    action: RelinkAction | None = None,
    expected_deactivation_at: dt.datetime | None = None,
) -> Account:
    return Account(
        status=status, inactive_action=action, expected_deactivation_at=expected_deactivation_at
    )


def tan(
    status: TanStatus = TanStatus.transactable, expiry: dt.datetime | None = None
) -> AccountNumber:
    return AccountNumber(status=status, expected_expiry_at=expiry)


def test_active_account_without_numbers_is_never_due() -> None:
    assert relink_due_at(account(), []) is None


def test_transactable_tan_without_expiry_is_never_due() -> None:
    assert relink_due_at(account(), [tan()]) is None


def test_inactive_relink_required_is_due_since_ever() -> None:
    inactive = account(ConnectionStatus.inactive, action=RelinkAction.relink_required)
    assert relink_due_at(inactive, []) == BROKEN_SINCE_EVER


def test_inactive_without_relink_action_is_never_due() -> None:
    assert relink_due_at(account(ConnectionStatus.inactive, action=RelinkAction.none), []) is None


def test_expired_tan_is_due_since_ever() -> None:
    assert relink_due_at(account(), [tan(TanStatus.expired, AT)]) == BROKEN_SINCE_EVER


def test_deactivated_tan_is_due_since_ever() -> None:
    assert relink_due_at(account(), [tan(TanStatus.deactivated)]) == BROKEN_SINCE_EVER


def test_tan_is_due_30_days_before_its_expiry() -> None:
    assert relink_due_at(account(), [tan(expiry=AT)]) == AT - ABOUT_TO_BREAK


def test_pending_tan_with_expiry_is_due_30_days_before_it() -> None:
    assert relink_due_at(account(), [tan(TanStatus.pending, AT)]) == AT - ABOUT_TO_BREAK


def test_earliest_of_several_tans_wins() -> None:
    later = AT + dt.timedelta(days=90)
    numbers = [tan(expiry=later), tan(expiry=AT), tan()]
    assert relink_due_at(account(), numbers) == AT - ABOUT_TO_BREAK


def test_active_account_is_due_30_days_before_its_expected_deactivation() -> None:
    assert relink_due_at(account(expected_deactivation_at=AT), []) == AT - ABOUT_TO_BREAK


def test_expected_deactivation_of_a_non_active_account_is_ignored() -> None:
    closed = account(
        ConnectionStatus.inactive, action=RelinkAction.none, expected_deactivation_at=AT
    )
    assert relink_due_at(closed, []) is None


def test_earlier_of_tan_expiry_and_expected_deactivation_wins() -> None:
    soon = AT - dt.timedelta(days=3)
    assert relink_due_at(account(expected_deactivation_at=soon), [tan(expiry=AT)]) == (
        soon - ABOUT_TO_BREAK
    )


def test_about_to_break_window_is_30_days() -> None:
    assert dt.timedelta(days=30) == ABOUT_TO_BREAK
