"""``relink bounces serve`` as an operator runs it: the console script as a process of its
own, on the test's database. A DSN for a message Relink sent, delivered to it over SMTP
(or, with ``--lmtp``, over LMTP), suppresses the address; SIGTERM ends it cleanly; a port
it cannot listen on is an error in words."""

from __future__ import annotations

import signal
import smtplib
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import stripe

from relink.config import Settings
from relink.platforms.service import NewPlatform
from relink.runtime import Runtime
from relink.sandbox_bank.testing import free_port
from tests.commands import RELINK, Relink, relink_in
from tests.email.reports import dsn, sent_email, suppressed
from tests.email.smtp_server import SmtpServer

HOST = "127.0.0.1"
STARTUP_SECONDS = 60.0
STOP_SECONDS = 15.0


@dataclass
class Serving:
    port: int
    process: subprocess.Popen[str]

    def stop(self) -> tuple[int, str, str]:
        """SIGTERM, as a service manager stops it: its exit code and what it printed."""
        self.process.send_signal(signal.SIGTERM)
        stdout, stderr = self.process.communicate(timeout=STOP_SECONDS)
        return self.process.returncode, stdout, stderr


@pytest.fixture
def cli(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Relink:
    """The console script's environment: a SQLite file of its own (the receiver opens
    the database only for a report), sharing compiled bytecode with the other runs."""
    return relink_in(tmp_path, tmp_path_factory)


def on_database(cli: Relink, settings: Settings) -> dict[str, str]:
    """The same environment on the test's database, with the test's key (the bounce
    tokens of the messages the test's runtime sent are derived from it)."""
    return {
        **cli.env,
        "RELINK_DATABASE_URL": settings.database_url,
        "RELINK_SECRET_KEY": settings.resolved_secret_key,
    }


def serve_command(*args: str) -> list[str]:
    return [str(RELINK), "bounces", "serve", "--host", HOST, *args]


def _listening(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=0.5):
            return True
    except OSError:
        return False


@contextmanager
def serving(env: dict[str, str], *options: str) -> Iterator[Serving]:
    """``relink bounces serve`` on a free port, once it accepts connections."""
    port = free_port()
    process = subprocess.Popen(
        serve_command("--port", str(port), *options),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while not _listening(port):
            if process.poll() is not None:
                raise AssertionError(f"bounces serve exited early: {process.communicate()}")
            assert time.monotonic() < deadline, "bounces serve did not open its port"
            time.sleep(0.05)
        yield Serving(port, process)
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate()


@pytest.mark.parametrize(
    ("options", "speaking"),
    [((), smtplib.SMTP), (("--lmtp",), smtplib.LMTP)],
    ids=["smtp", "lmtp"],
)
def test_a_dsn_delivered_to_the_process_suppresses_the_address(
    client: stripe.StripeClient,
    platform: NewPlatform,
    smtp: SmtpServer,
    smtp_runtime: Runtime,
    settings: Settings,
    cli: Relink,
    options: tuple[str, ...],
    speaking: type[smtplib.SMTP],
) -> None:
    _, _, received = sent_email(client, platform, smtp, smtp_runtime)

    with serving(on_database(cli, settings), *options) as served:
        with speaking(HOST, served.port, timeout=30) as connection:
            # Over LMTP each recipient is answered after the data; smtplib raises on a
            # refusal either way.
            refused = connection.sendmail("", [received.mail_from], dsn(received))
        assert refused == {}
        found = suppressed(smtp_runtime, platform, platform.owner.email)
        assert found is not None and found.reason == "bounced"
        assert found.diagnostic and "5.1.1" in found.diagnostic
        assert served.stop()[0] == 0


def test_the_lmtp_receiver_refuses_a_recipient_that_is_not_a_bounce_address(cli: Relink) -> None:
    with serving(cli.env, "--lmtp") as served:
        with smtplib.LMTP(HOST, served.port, timeout=30) as connection:
            connection.ehlo_or_helo_if_needed()
            connection.mail("")
            code, _ = connection.rcpt("postmaster@localhost")
        assert code == 550
        served.stop()


def test_sigterm_ends_the_process_cleanly_with_exit_code_0(cli: Relink) -> None:
    with serving(cli.env) as served:
        code, stdout, stderr = served.stop()

    assert code == 0, stderr
    assert f"Receiving bounces over SMTP on {HOST}:{served.port}" in stdout
    assert "Traceback" not in stderr
    assert not _listening(served.port)


def test_a_port_out_of_range_is_an_error_in_words(cli: Relink) -> None:
    done = subprocess.run(
        serve_command("--port", "70000"),
        env=cli.env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert done.returncode == 1
    assert "error: --port must be between 1 and 65535 (got 70000)" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_port_already_in_use_is_an_error_in_words(cli: Relink) -> None:
    with socket.socket() as taken:
        taken.bind((HOST, 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            serve_command("--port", str(port)),
            env=cli.env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    assert done.returncode == 1
    assert f"error: cannot listen on {HOST}:{port}" in done.stderr
    assert "address already in use" in done.stderr
    assert "Traceback" not in done.stderr
