"""What a team password must be: NIST SP 800-63B (memorized secrets).

At least :data:`MIN_LENGTH` characters and at most :data:`MAX_LENGTH` (counted in Unicode
code points; spaces and every printable character allowed), no composition rules, and not
one a guesser tries first: a short unit repeated, a run along the alphabet, the digits or
the keyboard, or the user's own email address. There is no bundled breached-password
list: the length floor already removes nearly every entry of the common lists, and
sign-in attempts are throttled (see docs/decisions.md, "Team passwords").
"""

from __future__ import annotations

MIN_LENGTH = 12
MAX_LENGTH = 128
# Runs a guesser walks (each also backwards): the alphabet, the digits, keyboard rows
# and columns.
_RUNS = (
    "abcdefghijklmnopqrstuvwxyz",
    "01234567890123456789",
    "qwertyuiopasdfghjklzxcvbnm",
    "qwertzuiopasdfghjklyxcvbnm",
    "azertyuiopqsdfghjklmwxcvbn",
    "1qaz2wsx3edc4rfv5tgb6yhn7ujm8ik9ol0p",
    "q1w2e3r4t5y6u7i8o9p0",
    "1q2w3e4r5t6y7u8i9o0p",
)
TOO_SHORT = f"Use at least {MIN_LENGTH} characters."
TOO_LONG = f"Use at most {MAX_LENGTH} characters."
PREDICTABLE = (
    "This password is too easy to guess (a repeated pattern, a run of letters, digits or "
    "keys, or your email address). A few unrelated words make a good password."
)


def password_problem(password: str, *, email: str | None = None) -> str | None:
    """Why ``password`` cannot be a team password, or None if it can."""
    if len(password) < MIN_LENGTH:
        return TOO_SHORT
    if len(password) > MAX_LENGTH:
        return TOO_LONG
    folded = password.casefold()
    if _repeats_a_short_unit(folded) or _is_a_run(folded):
        return PREDICTABLE
    if email and _contains_address(folded, email.casefold()):
        return PREDICTABLE
    return None


def _repeats_a_short_unit(text: str) -> bool:
    """``aaaaaaaaaaaa``, ``abababababab``, ``123412341234``."""
    return any(text == (text[:size] * (len(text) // size + 1))[: len(text)] for size in range(1, 5))


def _is_a_run(text: str) -> bool:
    """``abcdefghijkl``, ``123456789012``, ``qwertyuiopas``, ``lkjhgfdsapoi``."""
    compact = text.replace(" ", "")
    return any(compact in run or compact in run[::-1] for run in _RUNS)


def _contains_address(text: str, email: str) -> bool:
    """The address itself, or its name part with fewer than four other characters."""
    local = email.partition("@")[0]
    return email in text or (len(local) >= 4 and len(text.replace(local, "")) < 4)
