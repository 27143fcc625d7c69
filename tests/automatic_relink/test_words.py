"""The policy in words (shared by the dashboard and the CLI) and typed day lists."""

from __future__ import annotations

import pytest

from relink.automatic_relink.service import Policy, PolicyInvalid, days_of_text
from relink.automatic_relink.words import duration_words, policy_words


@pytest.mark.parametrize(
    ("seconds", "words"),
    [
        (0, "0 minutes"),
        (45, "45 seconds"),
        (5400, "1 hour 30 minutes"),
        (2 * 86400, "2 days"),
        (86400 + 3600 + 60 + 1, "1 day 1 hour 1 minute 1 second"),
    ],
)
def test_a_delay_is_said_in_days_hours_minutes_and_seconds(seconds: int, words: str) -> None:
    assert duration_words(seconds) == words


def test_one_reminder_day_and_one_email_read_in_the_singular() -> None:
    words = policy_words(
        Policy(
            enabled=True, reminder_days=(1,), expiry_reminder_days=(2,), max_emails_per_account=1
        )
    )
    assert words.reminders.startswith("A reminder 1 day after the first email")
    assert words.expiry_reminders.startswith("A reminder 2 days before a TAN")
    assert words.cap.startswith("At most 1 email per account")


@pytest.mark.parametrize(
    ("text", "days"), [("3,7", [3, 7]), (" 7 , 3 ", [7, 3]), ("", []), ("  ", [])]
)
def test_a_typed_day_list_is_read_in_its_order(text: str, days: list[int]) -> None:
    assert days_of_text("reminder_days", text) == days


@pytest.mark.parametrize("text", ["3,,7", "3;7", "-1", "1.5", "\u0663"])
def test_anything_but_whole_numbers_and_commas_is_refused(text: str) -> None:
    with pytest.raises(PolicyInvalid) as refused:
        days_of_text("reminder_days", text)
    assert (refused.value.param, refused.value.problem) == ("reminder_days", "not_days")
