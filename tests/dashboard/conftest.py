"""Dashboard tests drive the real server with httpx, signed in as a team user."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from relink.models import Role
from relink.platforms.service import NewPlatform
from tests.conftest import RunningServer
from tests.dashboard.factories import add_user, signed_in_client


@pytest.fixture
def owner(server: RunningServer, platform: NewPlatform) -> Iterator[httpx.Client]:
    client = signed_in_client(server, platform.owner.email)
    yield client
    client.close()


@pytest.fixture
def viewer(server: RunningServer, platform: NewPlatform) -> Iterator[httpx.Client]:
    client = signed_in_client(server, add_user(server, platform, Role.viewer))
    yield client
    client.close()
