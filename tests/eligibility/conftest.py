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
    create_institution,
    create_platform,
    delete_institution,
)


@pytest.fixture(autouse=True)
def frozen_clock() -> Iterator[FrozenClock]:
    frozen = FrozenClock(NOW)
    clock.set_now(frozen)
    yield frozen
    clock.reset()


@pytest.fixture
def book(runtime: Runtime) -> Iterator[Book]:
    """A fresh platform plus two institutions of the test's own (removed afterwards, since
    institutions are global): one without relink support, one live."""
    with runtime.database.unit_of_work() as session:
        platform, owner = create_platform(session)
        unsupported = create_institution(session, livemode=False, supports_relink=False).id
        live = create_institution(session, livemode=True, supports_relink=True).id
    yield Book(runtime, platform.id, owner.email, unsupported, live)
    with runtime.database.unit_of_work() as session:
        delete_institution(session, unsupported)
        delete_institution(session, live)
