"""The one place time comes from, so tests can freeze or advance it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

UTC = dt.UTC

_now: Callable[[], dt.datetime] = lambda: dt.datetime.now(UTC)  # noqa: E731


def now() -> dt.datetime:
    """Current UTC time (aware)."""
    return _now()


def set_now(source: Callable[[], dt.datetime]) -> None:
    """Replace the time source (tests)."""
    global _now
    _now = source


def reset() -> None:
    set_now(lambda: dt.datetime.now(UTC))


class FrozenClock:
    """A clock tests control: ``clock = FrozenClock(t); clock.advance(days=2)``."""

    def __init__(self, at: dt.datetime) -> None:
        if at.tzinfo is None:
            raise ValueError("FrozenClock needs an aware datetime")
        self.at = at

    def __call__(self) -> dt.datetime:
        return self.at

    def advance(self, **delta: float) -> dt.datetime:
        self.at = self.at + dt.timedelta(**delta)
        return self.at


def to_unix(value: dt.datetime | None) -> int | None:
    return None if value is None else int(value.timestamp())


def from_unix(value: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(value, UTC)
