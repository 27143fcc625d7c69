"""Fixtures of the email tests: the bounce receiver, and the holder's browser-like client
as the hosted tests use it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from relink.email.receiver import bounce_receiver
from relink.runtime import Runtime
from relink.sandbox_bank.testing import free_port
from tests.hosted.conftest import http

__all__ = ["http", "receiver"]


@pytest.fixture
def receiver(runtime: Runtime) -> Iterator[tuple[str, int]]:
    """``relink bounces serve``'s receiver on a free port."""
    port = free_port()
    controller = bounce_receiver(runtime, "127.0.0.1", port, ready_timeout=30)
    controller.start()
    yield "127.0.0.1", port
    controller.stop()
