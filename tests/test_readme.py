"""The README's tour commands do what the README says of them."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import httpx

from relink.platforms.service import NewPlatform
from tests.conftest import RunningServer

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def _institutions_command() -> list[str]:
    [line] = [
        line
        for line in README.splitlines()
        if line.startswith("curl ") and "/v1/financial_connections/institutions" in line
    ]
    return shlex.split(line.split("|")[0])


def test_the_institutions_command_lists_every_institution_the_readme_uses(
    server: RunningServer, platform: NewPlatform
) -> None:
    command = _institutions_command()
    [url] = [arg for arg in command if "$RELINK" in arg]
    assert command[command.index("-u") + 1] == "$KEY:"
    answer = httpx.get(
        url.replace("$RELINK", server.url),
        auth=(platform.test_secret_key, ""),
        timeout=15.0,
    ).json()
    listed = {institution["id"] for institution in answer["data"]}
    used = set(re.findall(r"fcinst_[a-z0-9_]+", README))
    assert used  # the tour does use some
    assert answer["has_more"] is False
    assert used <= listed, used - listed
