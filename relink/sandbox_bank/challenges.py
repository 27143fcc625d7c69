"""Keyword-driven logins and the fixed sandbox answers.

For institutions with `Feature.keyword_logins`, a password or an answer containing a
keyword decides what happens next (checked in this order):

`error` → the login fails for good; `incorrect` → refused, retry allowed;
`confirm_mfa` → code confirmation; `security_question` → secret question;
`options` → choice from a list; `mfa` → one-time code.

The correct answers are fixed: code `123456`, security answer `relink`, any listed option.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Literal

from relink.sandbox_bank.i18n import LOCALES, N_, gettext
from relink.sandbox_bank.institutions import Feature, SandboxInstitution

ONE_TIME_CODE = "123456"
SECURITY_ANSWER = "relink"

ChallengeKind = Literal["one_time_code", "confirm_code", "options", "security_question"]
Outcome = Literal["authenticated", "incorrect", "error"] | ChallengeKind

_KEYWORDS: tuple[tuple[str, Outcome], ...] = (
    ("error", "error"),
    ("incorrect", "incorrect"),
    ("confirm_mfa", "confirm_code"),
    ("security_question", "security_question"),
    ("options", "options"),
    ("mfa", "one_time_code"),
)


@dataclass(frozen=True, slots=True)
class ChallengeSpec:
    kind: ChallengeKind
    prompt: str
    options: tuple[str, ...]
    hint: str


# In English, as catalogue messages; :func:`challenge_in` gives them in a language.
CHALLENGES: dict[ChallengeKind, ChallengeSpec] = {
    "one_time_code": ChallengeSpec(
        "one_time_code",
        N_("Enter the one-time code we sent to your phone."),
        (),
        N_("Sandbox: the code is %(code)s."),
    ),
    "confirm_code": ChallengeSpec(
        "confirm_code",
        N_("Confirm that your banking app shows the code %(code)s by typing it here."),
        (),
        N_("Sandbox: type %(code)s."),
    ),
    "options": ChallengeSpec(
        "options",
        N_("Where should we send your verification code?"),
        (
            N_("Text message to •••• 1234"),
            N_("Email to j•••@example.com"),
            N_("Voice call to •••• 1234"),
        ),
        N_("Sandbox: any listed option works."),
    ),
    "security_question": ChallengeSpec(
        "security_question",
        N_("What was the name of your first pet?"),
        (),
        N_("Sandbox: the answer is %(answer)s."),
    ),
}
_FILLED = {"code": ONE_TIME_CODE, "answer": SECURITY_ANSWER}


def _in(locale: str, message: str) -> str:
    text = gettext(locale, message)
    return text % _FILLED if "%(" in message else text


def challenge_in(kind: ChallengeKind, locale: str) -> ChallengeSpec:
    """The challenge ``kind`` as the bank asks it in ``locale``."""
    spec = CHALLENGES[kind]
    return ChallengeSpec(
        kind,
        _in(locale, spec.prompt),
        tuple(_in(locale, option) for option in spec.options),
        _in(locale, spec.hint),
    )


@cache
def _option_answers() -> frozenset[str]:
    """Every listed option in every language: a holder answers in the one asked in."""
    return frozenset(
        option for locale in LOCALES for option in challenge_in("options", locale).options
    )


def _keyword(text: str) -> Outcome | None:
    lowered = text.lower()
    for keyword, outcome in _KEYWORDS:
        if keyword in lowered:
            return outcome
    return None


def password_outcome(inst: SandboxInstitution, password: str) -> Outcome:
    if inst.has(Feature.keyword_logins):
        return _keyword(password) or "authenticated"
    return "authenticated"


def answer_outcome(inst: SandboxInstitution, kind: ChallengeKind, answer: str) -> Outcome:
    if inst.has(Feature.keyword_logins):
        keyword = _keyword(answer)
        if keyword is not None:
            return keyword
    if kind == "options":
        return "authenticated" if answer in _option_answers() else "incorrect"
    expected = SECURITY_ANSWER if kind == "security_question" else ONE_TIME_CODE
    return "authenticated" if answer.strip().lower() == expected else "incorrect"


def parse_kind(value: str | None) -> ChallengeKind | None:
    for kind in CHALLENGES:
        if kind == value:
            return kind
    return None
