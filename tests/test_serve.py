"""`relink serve` as a real process: after `relink migrate` and `relink demo`, the demo's
test key lists the sandbox institutions, and the process stops cleanly."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from relink.institutions.catalog import SANDBOX_CATALOG
from relink.sandbox_bank.testing import free_port
from tests.commands import relink_in

STARTUP_SECONDS = 90


@dataclass
class Served:
    url: str
    test_key: str
    process: subprocess.Popen[str]


def wait_until_healthy(url: str, process: subprocess.Popen[str]) -> httpx.Response:
    deadline = time.monotonic() + STARTUP_SECONDS
    while True:
        if process.poll() is not None:
            raise AssertionError(f"relink serve exited early: {process.communicate()}")
        try:
            return httpx.get(f"{url}/healthz", timeout=5).raise_for_status()
        except httpx.HTTPError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    relink = relink_in(tmp_path_factory.mktemp("serve"), tmp_path_factory)
    for command in (("migrate",), ("demo",)):
        result = relink.run(*command)
        assert result.returncode == 0, result.stderr
    credentials = json.loads((relink.var_dir / "demo-credentials.json").read_text())
    port = free_port()
    process = subprocess.Popen(
        relink.command("serve", "--host", "127.0.0.1", "--port", str(port)),
        env=relink.env,
        cwd=relink.home,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        yield Served(f"http://127.0.0.1:{port}", credentials["test_secret_key"], process)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        process.communicate()


def test_serve_answers_healthz(served: Served) -> None:
    assert wait_until_healthy(served.url, served.process).json() == {"status": "ok"}


def test_serve_lists_the_sandbox_institutions_to_the_demo_test_key(served: Served) -> None:
    wait_until_healthy(served.url, served.process)
    response = httpx.get(
        f"{served.url}/v1/financial_connections/institutions",
        params={"limit": 100},
        headers={"Authorization": f"Bearer {served.test_key}"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["object"] == "list"
    assert {item["id"] for item in body["data"]} == {
        spec.institution_id for spec in SANDBOX_CATALOG
    }


def test_serve_stops_cleanly_on_interrupt(served: Served) -> None:
    wait_until_healthy(served.url, served.process)
    served.process.send_signal(signal.SIGINT)
    assert served.process.wait(timeout=30) == 0
