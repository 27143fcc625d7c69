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
from typing import Literal

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


CHALLENGES: dict[ChallengeKind, ChallengeSpec] = {
    "one_time_code": ChallengeSpec(
        "one_time_code",
        "Enter the one-time code we sent to your phone.",
        (),
        f"Sandbox: the code is {ONE_TIME_CODE}.",
    ),
    "confirm_code": ChallengeSpec(
        "confirm_code",
        f"Confirm that your banking app shows the code {ONE_TIME_CODE} by typing it here.",
        (),
        f"Sandbox: type {ONE_TIME_CODE}.",
    ),
    "options": ChallengeSpec(
        "options",
        "Where should we send your verification code?",
        ("Text message to •••• 1234", "Email to j•••@example.com", "Voice call to •••• 1234"),
        "Sandbox: any listed option works.",
    ),
    "security_question": ChallengeSpec(
        "security_question",
        "What was the name of your first pet?",
        (),
        f"Sandbox: the answer is {SECURITY_ANSWER}.",
    ),
}


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
    spec = CHALLENGES[kind]
    if kind == "options":
        return "authenticated" if answer in spec.options else "incorrect"
    expected = SECURITY_ANSWER if kind == "security_question" else ONE_TIME_CODE
    return "authenticated" if answer.strip().lower() == expected else "incorrect"


def parse_kind(value: str | None) -> ChallengeKind | None:
    for kind in CHALLENGES:
        if kind == value:
            return kind
    return None
