"""``relink bounces poll``: read bounces and complaints from an IMAP mailbox.

For a bounce domain whose mail lands in a mailbox (a hosted provider, a catch-all on the
company's server) rather than at ``relink bounces serve``. The client is the standard
library's :mod:`imaplib` (IMAP4rev1, TLS or STARTTLS through :mod:`ssl`): it is all a
poller needs, and maintained with Python itself.

Each poll reads the mailbox's unseen messages (``BODY.PEEK[]``, which leaves them
unseen), acts on each in a transaction of its own (:func:`ingest`, which reads the
bounce address from the headers a mailbox keeps: ``Delivered-To``, ``X-Original-To`` …),
commits, and only then flags it ``\\Seen``. A crash between the two reads the message
again on the next poll; :func:`ingest` knows the report (:class:`BounceReport`) and acts
on it once, so two pollers on one mailbox are harmless too. A message whose processing
fails stays unseen for the next poll (and is logged). A message that is not a report, or
one that names no message Relink sent, is flagged seen and left in place.
"""

from __future__ import annotations

import contextlib
import imaplib
import re
import ssl
import threading
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import structlog
from sqlalchemy.exc import IntegrityError

from relink.config import Settings
from relink.email.bounces import MAX_REPORT_BYTES, Outcome, ingest
from relink.runtime import Runtime

log = structlog.get_logger("relink.email.bounces")

# Seconds for connecting and for each command: a stuck server fails the poll, not the worker.
TIMEOUT_SECONDS = 30.0
_UID = re.compile(rb"UID (\d+)")


class ImapError(Exception):
    """The mailbox cannot be read (connection, TLS, login, mailbox): what to fix, in words."""


@dataclass
class PollResult:
    # Unseen messages found, and what became of the ones acted on (by outcome).
    found: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    # Messages whose processing failed: left unseen for the next poll.
    failed: int = 0

    def summary(self) -> str:
        done = ", ".join(f"{count} {name}" for name, count in sorted(self.outcomes.items()))
        failed = f"; {self.failed} failed (left for the next poll)" if self.failed else ""
        return f"{self.found} unseen message(s){': ' + done if done else ''}{failed}"


def _reply(data: Sequence[object]) -> str:
    words = [
        item.decode("utf-8", "replace") if isinstance(item, bytes) else str(item) for item in data
    ]
    return " ".join(word for word in words if word) or "no reason given"


def connect(settings: Settings, ssl_context: ssl.SSLContext | None = None) -> imaplib.IMAP4:
    """A logged-in connection to the bounce mailbox (its mailbox not selected yet)."""
    host, port = settings.bounce_imap_host, settings.bounce_imap_port
    if not host:
        raise ImapError("RELINK_BOUNCE_IMAP_HOST is not set")
    if not settings.bounce_imap_username or settings.bounce_imap_password is None:
        raise ImapError("RELINK_BOUNCE_IMAP_USERNAME and RELINK_BOUNCE_IMAP_PASSWORD must be set")
    where = f"{host}:{port} ({settings.bounce_imap_security})"
    context = ssl_context or ssl.create_default_context()
    try:
        if settings.bounce_imap_security == "ssl":
            connection: imaplib.IMAP4 = imaplib.IMAP4_SSL(
                host, port, ssl_context=context, timeout=TIMEOUT_SECONDS
            )
        else:
            connection = imaplib.IMAP4(host, port, timeout=TIMEOUT_SECONDS)
    except (OSError, imaplib.IMAP4.error) as error:
        raise ImapError(f"cannot connect to the IMAP server {where}: {error}") from None
    if settings.bounce_imap_security == "starttls":
        try:
            connection.starttls(ssl_context=context)
        except (OSError, imaplib.IMAP4.error) as error:
            _close(connection)
            raise ImapError(f"STARTTLS with the IMAP server {where} failed: {error}") from None
    try:
        connection.login(settings.bounce_imap_username, settings.bounce_imap_password)
    except (OSError, imaplib.IMAP4.error) as error:
        _close(connection)
        raise ImapError(
            f"IMAP login to {where} as {settings.bounce_imap_username} failed: {error}"
        ) from None
    return connection


def _close(connection: imaplib.IMAP4) -> None:
    try:
        connection.logout()
    except (OSError, imaplib.IMAP4.error):
        # The server went away: close the socket without saying goodbye.
        with contextlib.suppress(OSError):
            connection.shutdown()


def _messages(fetched: Sequence[object]) -> list[tuple[str, bytes]]:
    """(uid, raw message) of each message in a ``UID FETCH … (UID BODY.PEEK[])`` reply."""
    found = []
    for item in fetched:
        if isinstance(item, tuple) and len(item) == 2:
            envelope, raw = item
            match = _UID.search(envelope)
            if match is not None and isinstance(raw, bytes):
                found.append((match.group(1).decode(), raw))
    return found


def poll_once(
    runtime: Runtime,
    ssl_context: ssl.SSLContext | None = None,
    stopping: threading.Event | None = None,
) -> PollResult:
    """Read the bounce mailbox's unseen messages once (see the module's docstring); when
    ``stopping`` is set, after the message at hand."""
    settings = runtime.settings
    mailbox = settings.bounce_imap_mailbox
    connection = connect(settings, ssl_context)
    result = PollResult()
    try:
        status, data = connection.select(_quoted(mailbox))
        if status != "OK":
            raise ImapError(f"the IMAP mailbox {mailbox!r} cannot be opened: {_reply(data)}")
        # Larger than any report: not read, flagged seen so it is not looked at again.
        too_large = _search(connection, "UNSEEN", "LARGER", str(MAX_REPORT_BYTES))
        for uid in too_large:
            _flag_seen(connection, uid)
            log.warning("bounce.too_large", uid=uid, limit=MAX_REPORT_BYTES)
            result.outcomes["too_large"] += 1
        uids = _search(connection, "UNSEEN")
        result.found = len(too_large) + len(uids)
        for uid in uids:
            if stopping is not None and stopping.is_set():
                break  # the rest waits for the next poll
            status, fetched = connection.uid("FETCH", uid, "(UID BODY.PEEK[])")
            messages = _messages(fetched) if status == "OK" else []
            if not messages:
                continue  # expunged by someone else since the search
            for message_uid, raw in messages:
                _act_on(runtime, connection, message_uid, raw, result)
    except (OSError, imaplib.IMAP4.error) as error:
        raise ImapError(f"reading the IMAP mailbox {mailbox!r} failed: {error}") from None
    finally:
        _close(connection)
    if result.found:
        log.info("bounce.polled", **result.outcomes, found=result.found, failed=result.failed)
    return result


def _act_on(
    runtime: Runtime, connection: imaplib.IMAP4, uid: str, raw: bytes, result: PollResult
) -> None:
    try:
        try:
            outcome = _ingest(runtime, raw)
        except IntegrityError:
            # Another poller acted on the same report (or on the same address) at the
            # same moment: once more, now that its transaction is committed.
            outcome = _ingest(runtime, raw)
    except Exception:
        # Left unseen: the next poll tries again (a database that is away, a bug).
        log.exception("bounce.poll_failed", uid=uid)
        result.failed += 1
        return
    # Only after the commit: a crash here reads it again, and ingest knows it.
    _flag_seen(connection, uid)
    result.outcomes[outcome.value] += 1
    log.info("bounce.received", outcome=outcome.value, bytes=len(raw), source="imap")


def _search(connection: imaplib.IMAP4, *criteria: str) -> list[str]:
    status, data = connection.uid("SEARCH", *criteria)
    return data[0].decode().split() if status == "OK" and data and data[0] else []


def _flag_seen(connection: imaplib.IMAP4, uid: str) -> None:
    status, data = connection.uid("STORE", uid, "+FLAGS.SILENT", "(\\Seen)")
    if status != "OK":
        log.warning("bounce.not_flagged", uid=uid, reply=_reply(data))


def _ingest(runtime: Runtime, raw: bytes) -> Outcome:
    with runtime.database.unit_of_work() as db:
        return ingest(db, raw)


def _quoted(mailbox: str) -> str:
    """The mailbox name as an IMAP quoted string (names may have spaces)."""
    return '"' + mailbox.replace("\\", "\\\\").replace('"', '\\"') + '"'


class BouncePoller:
    """Polls the bounce mailbox every ``RELINK_BOUNCE_IMAP_INTERVAL_SECONDS`` until
    :meth:`stop`: ``relink bounces poll`` runs it, and so does the worker when
    ``RELINK_BOUNCE_IMAP_HOST`` is set. A poll that fails is logged and tried again at
    the next interval."""

    def __init__(
        self,
        runtime: Runtime,
        ssl_context: ssl.SSLContext | None = None,
        stopping: threading.Event | None = None,
    ) -> None:
        self.runtime = runtime
        self.ssl_context = ssl_context
        # The worker's own event: the poller stops with it, even mid-round.
        self.stopping = stopping or threading.Event()
        self.thread: threading.Thread | None = None

    def run_forever(self) -> None:
        settings = self.runtime.settings
        log.info(
            "bounce.polling",
            host=settings.bounce_imap_host,
            mailbox=settings.bounce_imap_mailbox,
            interval=settings.bounce_imap_interval_seconds,
        )
        while not self.stopping.is_set():
            try:
                poll_once(self.runtime, self.ssl_context, self.stopping)
            except ImapError as error:
                log.error("bounce.poll_failed", error=str(error))
            self.stopping.wait(settings.bounce_imap_interval_seconds)

    def start(self) -> None:
        """Poll on a daemon thread (the worker's)."""
        self.thread = threading.Thread(
            target=self.run_forever, name="relink-bounce-poller", daemon=True
        )
        self.thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self.stopping.set()
        if self.thread is not None:
            self.thread.join(timeout)
