"""Deterministic data: the same (institution, username) always gives the same bank."""

from __future__ import annotations

from datetime import UTC, datetime

from relink.sandbox_bank.data import accounts_for, transactions_for
from relink.sandbox_bank.institutions import INSTITUTIONS_BY_KEY

TEST_OAUTH = INSTITUTIONS_BY_KEY["test_oauth"]


def test_account_ids_are_stable_across_releases() -> None:
    # Pinned: changing how ids are derived would orphan every linked sandbox account.
    assert [a.id for a in accounts_for(TEST_OAUTH, "jenny")] == [
        "sbacct_039333f32419b23cae8e",
        "sbacct_7142a5605699fbf266bd",
        "sbacct_f9e080c1e9f795ea27ec",
    ]


def test_usernames_are_case_and_space_insensitive() -> None:
    assert accounts_for(TEST_OAUTH, "  Jenny ") == accounts_for(TEST_OAUTH, "jenny")


def test_last4_is_the_end_of_the_account_number() -> None:
    assert all(a.account_number.endswith(a.last4) for a in accounts_for(TEST_OAUTH, "ada"))


def test_transactions_of_a_past_day_do_not_change_as_time_moves_on() -> None:
    checking = accounts_for(TEST_OAUTH, "ada")[0]
    day_one = datetime(2027, 3, 1, tzinfo=UTC)
    later = datetime(2027, 3, 20, tzinfo=UTC)

    early = [t for t in transactions_for(checking, now=day_one) if t.status == "posted"]
    seen_later = [t for t in transactions_for(checking, now=later) if t.transacted_at < day_one]

    assert {t.id for t in early if t.transacted_at >= datetime(2027, 2, 1, tzinfo=UTC)} <= {
        t.id for t in seen_later
    }
