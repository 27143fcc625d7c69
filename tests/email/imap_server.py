"""A real IMAP server for tests: a private Dovecot (``make dovecot`` installs it) on a free
port of 127.0.0.1, with one user whose mail is a maildir in a temporary directory.

One instance serves every security mode Relink speaks: plain IMAP that offers STARTTLS,
and IMAP over TLS, both with a certificate ``trustme`` issues for 127.0.0.1. Dovecot is
required, not optional: without it the fixture fails with what to install.
"""

from __future__ import annotations

import grp
import imaplib
import os
import pwd
import shutil
import ssl
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import trustme

from relink.sandbox_bank.testing import STARTUP_SECONDS, free_port

HOST = "127.0.0.1"
USERNAME = "bounces"
PASSWORD = "imap-test-password"
DOVECOT = "/usr/sbin/dovecot"
# The IMAP server process (Debian's dovecot-imapd); dovecot-core alone has no IMAP.
IMAP_PROCESS = "/usr/lib/dovecot/imap"


@dataclass
class ImapServer:
    host: str
    port: int
    ssl_port: int
    username: str
    password: str
    ca: trustme.CA
    # The CA's certificate as a PEM file (what SSL_CERT_FILE points a process at).
    ca_file: Path

    def client_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context()
        self.ca.configure_trust(context)
        return context

    @contextmanager
    def session(self) -> Iterator[imaplib.IMAP4]:
        """A logged-in connection as the test user, with INBOX selected."""
        connection = imaplib.IMAP4(self.host, self.port, timeout=30)
        try:
            connection.login(self.username, self.password)
            connection.select("INBOX")
            yield connection
        finally:
            connection.logout()

    def append(self, raw: bytes) -> None:
        """Deliver a message into INBOX, unseen (as a mail server would)."""
        with self.session() as connection:
            status, data = connection.append("INBOX", None, None, raw)
            assert status == "OK", data

    def flags(self) -> list[str]:
        """The flags of each message in INBOX, in order."""
        with self.session() as connection:
            status, data = connection.fetch("1:*", "(FLAGS)")
            assert status == "OK", data
            return [item.decode() for item in data if isinstance(item, bytes)]


def _binary() -> str:
    found = shutil.which("dovecot") or (DOVECOT if os.path.exists(DOVECOT) else None)
    if found is None or not os.path.exists(IMAP_PROCESS):
        raise RuntimeError(
            "Dovecot is not installed: the IMAP bounce tests need a real IMAP server. "
            "Run `make dovecot` (apt-get install dovecot-imapd)."
        )
    return found


def _users() -> tuple[str, str, pwd.struct_passwd]:
    """(internal user, login user, mail user). Dovecot runs its login processes as a user
    that is not root; as root, the users its Debian package creates, and ``nobody``
    owns the mail. Otherwise everything runs as the current user."""
    if os.geteuid() != 0:
        me = pwd.getpwuid(os.geteuid())
        return me.pw_name, me.pw_name, me
    return "dovecot", "dovenull", pwd.getpwnam("nobody")


def _config(root: Path, port: int, ssl_port: int, cert: Path, key: Path) -> str:
    internal, login, mail = _users()
    return f"""
base_dir = {root}/run
state_dir = {root}/state
instance_name = relink-test-{port}
protocols = imap
listen = {HOST}
log_path = {root}/dovecot.log
info_log_path = {root}/dovecot.log
default_internal_user = {internal}
default_internal_group = {grp.getgrgid(pwd.getpwnam(internal).pw_gid).gr_name}
default_login_user = {login}
ssl = yes
ssl_cert = <{cert}
ssl_key = <{key}
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_failure_delay = 0
mail_location = maildir:{root}/mail/%u
first_valid_uid = {mail.pw_uid}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/passwd
}}
userdb {{
  driver = static
  args = uid={mail.pw_uid} gid={mail.pw_gid} home={root}/home/%u
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = {HOST}
    port = {port}
  }}
  inet_listener imaps {{
    address = {HOST}
    port = {ssl_port}
  }}
}}
service anvil {{
  chroot =
}}
"""


def _wait_for(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        try:
            imaplib.IMAP4(HOST, port, timeout=5).logout()
            return
        except OSError:
            time.sleep(0.1)
    written = log.read_text() if log.exists() else ""
    process.kill()
    raise RuntimeError(f"Dovecot did not start on {HOST}:{port}:\n{written}")


@contextmanager
def imap_server() -> Iterator[ImapServer]:
    """Run a private Dovecot until the block ends."""
    binary = _binary()
    _, _, mail = _users()
    # Not under pytest's tmp_path: Dovecot's unprivileged processes must reach it.
    root = Path(tempfile.mkdtemp(prefix="relink-dovecot-"))
    root.chmod(0o755)
    try:
        ca = trustme.CA()
        issued = ca.issue_cert(HOST)
        cert, key, ca_file = root / "cert.pem", root / "key.pem", root / "ca.pem"
        issued.cert_chain_pems[0].write_to_path(str(cert))
        issued.private_key_pem.write_to_path(str(key))
        ca.cert_pem.write_to_path(str(ca_file))
        (root / "passwd").write_text(f"{USERNAME}:{{PLAIN}}{PASSWORD}\n")
        for folder in ("mail", "home"):
            (root / folder).mkdir()
            os.chown(root / folder, mail.pw_uid, mail.pw_gid)
        port, ssl_port = free_port(), free_port()
        config = root / "dovecot.conf"
        config.write_text(_config(root, port, ssl_port, cert, key))
        process = subprocess.Popen(
            [binary, "-F", "-c", str(config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )
        try:
            _wait_for(port, process, root / "dovecot.log")
            yield ImapServer(HOST, port, ssl_port, USERNAME, PASSWORD, ca, ca_file)
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    finally:
        shutil.rmtree(root, ignore_errors=True)
