"""The dashboard's own copies of words other layers say in English (to the API, the CLI):
the same English, so an English user reads what the API and the CLI say."""

from __future__ import annotations

import gettext

import pytest

from relink.automatic_relink.service import Policy
from relink.automatic_relink.words import duration_words, policy_words
from relink.bulk_requests.preview import SKIP_MESSAGES
from relink.dashboard.auth import PASSWORD_REFUSALS
from relink.dashboard.relink_policy import delay_words, policy_sentences
from relink.dashboard.wording import EXPLANATIONS, RELINK_REASONS, REPORT_STEPS, words_for
from relink.eligibility.relink_reason import LABELS, NOT_RECORDED
from relink.eligibility.rules import MESSAGES
from relink.kit.i18n import worded
from relink.sessions.rollup import STEPS

ENGLISH = gettext.NullTranslations()


def test_the_skip_explanations_are_the_apis_reasons() -> None:
    api = {reason.value: text for reason, text in MESSAGES.items()} | SKIP_MESSAGES
    assert api == EXPLANATIONS


def test_the_report_steps_and_reasons_are_the_clis() -> None:
    assert dict(STEPS) == REPORT_STEPS
    assert {
        **{str(code): text for code, text in LABELS.items()},
        "": NOT_RECORDED,
    } == RELINK_REASONS


def test_the_password_refusals_say_the_password_rules_in_english() -> None:
    assert {worded(message, ENGLISH) for message in PASSWORD_REFUSALS.values()} == set(
        PASSWORD_REFUSALS
    )


@pytest.mark.parametrize(
    "policy",
    [
        Policy(),
        Policy(enabled=True, delay_seconds=0, reminder_days=(), expiry_reminder_days=()),
        Policy(delay_seconds=5400, reminder_days=(1,), expiry_reminder_days=(3,)),
        Policy(delay_seconds=90061, reminder_days=(2, 5), max_emails_per_account=1),
    ],
)
def test_the_policy_in_english_is_what_the_cli_says(policy: Policy) -> None:
    assert policy_sentences(policy, ENGLISH) == policy_words(policy).sentences


@pytest.mark.parametrize("seconds", [1, 60, 3600, 5400, 86400, 90061])
def test_a_delay_in_english_is_what_the_cli_says(seconds: int) -> None:
    assert delay_words(seconds, ENGLISH) == duration_words(seconds)


@pytest.mark.parametrize(
    ("seconds", "english", "german"),
    [
        (None, "—", "—"),
        (45, "45 s", "45 Sek."),
        (300, "5 min", "5 Min."),
        (330, "5 min 30 s", "5 Min. 30 Sek."),
        (7200, "2 h 0 min", "2 Std. 0 Min."),
        (180000, "2 d 2 h", "2 T. 2 Std."),
    ],
)
def test_a_median_time_is_short_in_each_language(
    seconds: float | None, english: str, german: str
) -> None:
    assert words_for("en").duration(seconds) == english
    assert words_for("de").duration(seconds) == german
