"""Eligibility fixtures: a frozen clock and a book with the institutions the cases need."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from relink.kit import clock
from relink.kit.clock import FrozenClock
from relink.runtime import Runtime
from tests.eligibility.factories import (
    NOW,
    Book,
    create_book,
    delete_book_institutions,
)


@pytest.fixture(autouse=True)
def frozen_clock() -> Iterator[FrozenClock]:
    frozen = FrozenClock(NOW)
    clock.set_now(frozen)
    yield frozen
    clock.reset()


@pytest.fixture
def book(runtime: Runtime) -> Iterator[Book]:
    """A fresh platform plus institutions of the test's own (see create_book)."""
    book = create_book(runtime)
    yield book
    delete_book_institutions(runtime, book)
