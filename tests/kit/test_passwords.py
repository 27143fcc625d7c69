"""The team password rules (relink/kit/passwords.py, NIST SP 800-63B)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from relink.demo import DEMO_PASSWORD
from relink.kit.passwords import MAX_LENGTH, MIN_LENGTH, PREDICTABLE, password_problem

README = Path(__file__).resolve().parents[2] / "README.md"


@pytest.mark.parametrize(
    "password",
    [
        "correct horse battery",
        "ünïcödé paßwörter",  # any printable character, no composition rules
        "moon river !",  # spaces count as characters
        "w" * 11 + "!",
        "p" * 63 + "q",  # NIST: at least 64 characters allowed
        "Tr0ub4dor&3 xkcd" * 8,  # 128: the longest allowed
    ],
)
def test_a_password_of_12_to_128_characters_is_accepted(password: str) -> None:
    assert MIN_LENGTH <= len(password) <= MAX_LENGTH
    assert password_problem(password, email="ada@example.com") is None


def test_a_password_shorter_than_12_or_longer_than_128_is_refused() -> None:
    assert password_problem("x" * 11) == "Use at least 12 characters."
    assert password_problem("xy" * 65) == "Use at most 128 characters."


@pytest.mark.parametrize(
    "password",
    [
        "aaaaaaaaaaaa",
        "abababababab",
        "123412341234",
        "abcdefghijkl",
        "LKJIHGFEDCBA",
        "123456789012",
        "qwertyuiopas",
        "q1w2e3r4t5y6",
        "1qaz2wsx3edc",
        "ada@example.com",
        "ada@example.com!!",
        "adalovelace1",
    ],
)
def test_a_repeated_sequential_or_personal_password_is_refused(password: str) -> None:
    assert password_problem(password, email="adalovelace@example.com") == PREDICTABLE or (
        password_problem(password, email="ada@example.com") == PREDICTABLE
    )


def test_the_demo_password_meets_the_rules_and_is_the_one_the_readme_prints() -> None:
    assert password_problem(DEMO_PASSWORD, email="owner@demo.relink.test") is None
    tour = re.search(r"demo login \(`owner@demo\.relink\.test` / `([^`]+)`\)", README.read_text())
    assert tour is not None and tour.group(1) == DEMO_PASSWORD
