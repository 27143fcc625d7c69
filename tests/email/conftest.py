"""Email test fixtures: a real SMTP server and a runtime whose backend sends to it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from relink.config import Settings
from relink.email.backends import backend_for
from relink.kit import clock
from relink.kit.clock import FrozenClock
from relink.runtime import Runtime
from tests.email.smtp_server import SmtpServer, smtp_server


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    with smtp_server() as server:
        yield server


def runtime_with(settings: Settings, **changes: object) -> Runtime:
    """A separate runtime on the same database with some settings changed."""
    return Runtime.from_settings(settings.model_copy(update=changes))


@contextmanager
def sending_to(smtp: SmtpServer, settings: Settings, **changes: object) -> Iterator[Runtime]:
    """A runtime whose SMTP backend sends to ``smtp``; its connections and pool closed after."""
    runtime = runtime_with(
        settings,
        email_backend="smtp",
        smtp_host=smtp.host,
        smtp_port=smtp.port,
        smtp_security="none",
        **changes,
    )
    try:
        yield runtime
    finally:
        backend_for(runtime).close()
        runtime.database.engine.dispose()


@pytest.fixture
def smtp_runtime(settings: Settings, smtp: SmtpServer) -> Iterator[Runtime]:
    with sending_to(smtp, settings) as runtime:
        yield runtime


@pytest.fixture
def frozen_clock() -> Iterator[FrozenClock]:
    frozen = FrozenClock(clock.now())
    clock.set_now(frozen)
    yield frozen
    clock.reset()
