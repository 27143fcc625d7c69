"""Starting the long-running commands as real processes: bad settings, options or databases
are refused with one line before anything runs; a worker whose database goes away backs
off instead of logging every half second."""

from __future__ import annotations

import os
import re
import selectors
import signal
import subprocess
import time
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from relink.migrate import upgrade
from tests.commands import Relink, migrated_sqlite, relink_in
from tests.conftest import create_postgres_database, drop_postgres_database, postgres_url

# Longer than any of these commands takes to refuse; a command that starts anyway runs
# until it is stopped, and the test then fails on the timeout.
REFUSAL_TIMEOUT = 90
ANSI = re.compile(r"\x1b\[[0-9;]*m")


@pytest.fixture(scope="module")
def cli(tmp_path_factory: pytest.TempPathFactory) -> Relink:
    relink = relink_in(tmp_path_factory.mktemp("cli-startup"), tmp_path_factory)
    migrated_sqlite(relink.database_url, tmp_path_factory)
    return relink


def run_refused(cli: Relink, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            cli.command(*args),
            env={**cli.env, **env},
            cwd=cli.home,
            capture_output=True,
            text=True,
            timeout=REFUSAL_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise AssertionError(f"relink {' '.join(args)} started instead of refusing") from None


def assert_refused_with_one_line(result: subprocess.CompletedProcess[str], *words: str) -> None:
    assert result.returncode == 1
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    for word in words:
        assert word in lines[0]


def missing_postgres_database() -> str:
    url = postgres_url()
    if url is None:
        pytest.skip("PostgreSQL is not reachable (it is required under CI)")
    return make_url(url).set(database=f"relink_missing_{os.getpid()}").render_as_string(False)


@pytest.mark.parametrize(
    ("args", "env", "words"),
    [
        (("worker",), {"RELINK_OUTBOX_LEASE_SECONDS": "0"}, ["RELINK_OUTBOX_LEASE_SECONDS"]),
        (("worker",), {"RELINK_OUTBOX_LEASE_SECONDS": "-5"}, ["RELINK_OUTBOX_LEASE_SECONDS"]),
        (("worker", "--concurrency", "0"), {}, ["--concurrency"]),
        (("worker", "--concurrency", "-1"), {}, ["--concurrency"]),
        (("serve", "--port", "99999"), {}, ["--port", "99999"]),
        (("worker",), {"RELINK_SMTP_PORT": "abc"}, ["RELINK_SMTP_PORT", "'abc'"]),
        (("serve",), {"RELINK_DATABASE_POOL_SIZE": "many"}, ["RELINK_DATABASE_POOL_SIZE"]),
    ],
    ids=[
        "lease-0",
        "lease-negative",
        "concurrency-0",
        "concurrency-negative",
        "port-99999",
        "smtp-port-not-a-number",
        "pool-size-not-a-number",
    ],
)
def test_a_bad_setting_or_option_refuses_to_start_with_one_line(
    cli: Relink, args: tuple[str, ...], env: dict[str, str], words: list[str]
) -> None:
    assert_refused_with_one_line(run_refused(cli, *args, **env), *words)


def test_a_worker_refuses_to_start_on_a_missing_postgresql_database(cli: Relink) -> None:
    url = missing_postgres_database()
    result = run_refused(cli, "worker", RELINK_DATABASE_URL=url)
    assert_refused_with_one_line(result, "does not exist")


def test_a_worker_refuses_to_start_on_a_missing_sqlite_file_and_creates_none(
    cli: Relink,
) -> None:
    path = cli.home / "elsewhere" / "relink.db"
    result = run_refused(cli, "worker", RELINK_DATABASE_URL=f"sqlite:///{path}")
    assert_refused_with_one_line(result, "relink migrate")
    assert not path.exists()


def test_a_worker_refuses_to_start_on_a_database_without_relink_tables(cli: Relink) -> None:
    path = cli.home / "empty.db"
    path.touch()
    result = run_refused(cli, "worker", RELINK_DATABASE_URL=f"sqlite:///{path}")
    assert_refused_with_one_line(result, "relink migrate")


def _read_lines_until(
    process: subprocess.Popen[str], seen: list[str], done: object, timeout: float
) -> None:
    """Collect the process's output lines into ``seen`` until ``done(seen)``."""
    assert process.stdout is not None
    selector = selectors.DefaultSelector()
    selector.register(process.stdout, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout
    while not done(seen):  # type: ignore[operator]
        if time.monotonic() > deadline or process.poll() is not None:
            raise AssertionError("the worker did not get there:\n" + "".join(seen))
        if selector.select(timeout=0.5):
            line = process.stdout.readline()
            if line:
                seen.append(ANSI.sub("", line))


def test_a_worker_whose_database_goes_away_backs_off_and_logs_one_traceback(
    cli: Relink, tmp_path: Path
) -> None:
    base = postgres_url()
    if base is None:
        pytest.skip("PostgreSQL is not reachable (it is required under CI)")
    url = make_url(base).set(database=f"relink_goes_away_{os.getpid()}").render_as_string(False)
    create_postgres_database(url)
    upgrade(url)
    env = {**cli.env, "RELINK_DATABASE_URL": url, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        cli.command("worker"),
        env=env,
        cwd=cli.home,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    seen: list[str] = []
    try:
        _read_lines_until(
            process, seen, lambda lines: any("worker.started" in x for x in lines), 90
        )
        drop_postgres_database(url)

        def failed_rounds(lines: list[str]) -> list[str]:
            return [line for line in lines if "worker.round_failed" in line]

        _read_lines_until(process, seen, lambda lines: len(failed_rounds(lines)) >= 4, 90)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
        drop_postgres_database(url)
    delays = [
        float(match.group(1))
        for line in failed_rounds(seen)
        if (match := re.search(r"retry_in=([\d.]+)", line))
    ]
    assert delays[:4] == [0.5, 1.0, 2.0, 4.0]
    # The first failure carries the traceback; the repeats are one line each.
    failures = [index for index, line in enumerate(seen) if "worker.round_failed" in line]
    assert any("Traceback" in line for line in seen[failures[0] : failures[1]])
    assert seen[failures[1] : failures[3] + 1] == [seen[i] for i in failures[1:4]]
