"""Where emails go: SMTP in production, the built-in mailbox as the embedded default.

A backend answers every send with a :class:`SendResult` instead of raising, so the
caller decides from its ``outcome`` (accepted / transient / permanent), never from
message text: an SMTP 4xx reply or a connection problem is transient, a 5xx reply
is permanent.
"""

from __future__ import annotations

import enum
import re
import smtplib
import ssl
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from email import policy
from email.message import EmailMessage
from typing import Protocol

from relink.config import Settings
from relink.db import Database
from relink.email.dkim import DkimSigner, key_box
from relink.email.messages import envelope_address, text_and_html
from relink.kit import clock, ids
from relink.kit.sql import insert_or_ignore
from relink.models import MailboxMessage
from relink.runtime import Runtime

DEFAULT_SMTP_TIMEOUT_SECONDS = 30.0


class SendOutcome(enum.StrEnum):
    accepted = "accepted"
    transient = "transient"
    permanent = "permanent"
    # Not sent at all: the caller withdrew it before it went on the wire.
    withheld = "withheld"


@dataclass(frozen=True)
class SendResult:
    outcome: SendOutcome
    # The server's reply ("451 4.3.0 Try again later") or the connection error.
    reply: str | None = None
    code: int | None = None
    # The mailbox already held this Message-ID: a replay, nothing new was stored.
    duplicate: bool = False
    # The server refused the recipient itself (its reply to RCPT TO).
    recipient_refused: bool = False

    @property
    def accepted(self) -> bool:
        return self.outcome == SendOutcome.accepted

    @property
    def address_failed(self) -> bool:
        """A permanent refusal that is about the address, not about the message or the
        sender: an enhanced status 5.1.x (bad mailbox or domain) or 5.2.1 (mailbox
        disabled), or a 550/551/553 reply to RCPT TO without an enhanced status. Other
        5xx replies (5.7.1 relaying denied, a refused sender) say nothing about the
        holder's address and do not suppress it."""
        if self.outcome != SendOutcome.permanent or self.code is None or not self.reply:
            return False
        enhanced = _ENHANCED_STATUS.search(self.reply)
        if enhanced is not None:
            status = enhanced.group(1)
            return status.startswith("5.1.") or status == "5.2.1"
        return self.recipient_refused and self.code in (550, 551, 553)

    @property
    def address_deferred(self) -> bool:
        """A temporary refusal of the recipient itself: a 4xx reply to RCPT TO (450
        mailbox busy, 451 greylisted or a local error, 452 mailbox full). It counts
        towards a transient suppression, as a transient bounce does; 421 (the server is
        closing the connection) is about the server, not the address."""
        return (
            self.outcome == SendOutcome.transient
            and self.recipient_refused
            and self.code is not None
            and 400 <= self.code < 500
            and self.code != 421
        )


_ENHANCED_STATUS = re.compile(r"^\d{3}[ -]([245]\.\d{1,3}\.\d{1,3})\b")


@dataclass(frozen=True)
class MessageTags:
    """What a message is about; the mailbox stores it, SMTP does not send it."""

    platform_id: str
    livemode: bool
    session_id: str | None = None
    # An email about this team user's own account (the mailbox shows it to them only).
    user_id: str | None = None
    # The envelope sender (SMTP MAIL FROM) when it is not the From address: where
    # bounces of this message go.
    return_path: str | None = None


class Signer(Protocol):
    def sign(self, raw: bytes) -> bytes: ...


class EmailBackend(Protocol):
    name: str

    def send(self, message: EmailMessage, tags: MessageTags) -> SendResult: ...

    def close(self) -> None: ...


class MailboxBackend:
    """Stores messages in ``mailbox_messages``; a second send of one Message-ID is a no-op."""

    name = "mailbox"

    def __init__(self, database: Database) -> None:
        self.database = database

    def send(self, message: EmailMessage, tags: MessageTags) -> SendResult:
        text, html = text_and_html(message)
        row = {
            "id": ids.new("mbx"),
            "platform_id": tags.platform_id,
            "livemode": tags.livemode,
            "session_id": tags.session_id,
            "user_id": tags.user_id,
            "to_address": str(message["To"]),
            "sender": str(message["From"]),
            "subject": str(message["Subject"]),
            "text": text,
            "html": html,
            "message_id": str(message["Message-ID"]),
            "created_at": clock.now(),
        }
        insert = insert_or_ignore(
            self.database.engine, MailboxMessage, index_elements=["message_id"]
        )
        with self.database.unit_of_work() as session:
            inserted = session.scalar(insert.values(**row).returning(MailboxMessage.id))
        return SendResult(
            SendOutcome.accepted, reply="stored in the mailbox", duplicate=inserted is None
        )

    def close(self) -> None:
        pass


def classify_reply(code: int, reply: bytes | str) -> SendResult:
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply
    outcome = SendOutcome.permanent if 500 <= code < 600 else SendOutcome.transient
    return SendResult(outcome, reply=f"{code} {text}".strip(), code=code)


class SmtpBackend:
    """SMTP with one connection per thread, reused across sends.

    :meth:`send` uses the calling thread's connection. :meth:`submit_raw` hands the send to
    one of ``connections`` sender threads (each with its own connection) and returns at
    once, so the worker renders the next email while this one is on the wire and several
    are in flight: an SMTP exchange is four round trips, mostly spent waiting.

    A connection the server dropped while idle is opened again once, transparently; any
    other failure closes it so the next send starts clean.
    """

    name = "smtp"

    def __init__(
        self,
        host: str,
        port: int,
        *,
        security: str = "starttls",
        username: str | None = None,
        password: str | None = None,
        timeout: float = DEFAULT_SMTP_TIMEOUT_SECONDS,
        ssl_context: ssl.SSLContext | None = None,
        local_hostname: str | None = None,
        connections: int = 1,
        signer: Signer | None = None,
    ) -> None:
        if security not in ("starttls", "ssl", "none"):
            raise ValueError(f"unknown SMTP security {security!r}")
        if connections < 1:
            raise ValueError("an SMTP backend needs at least one connection")
        self.connections = connections
        self._senders: ThreadPoolExecutor | None = None
        self.host = host
        self.port = port
        self.security = security
        self.username = username
        self.password = password
        self.timeout = timeout
        self.ssl_context = ssl_context
        self.local_hostname = local_hostname
        self.signer = signer
        self._local = threading.local()
        self._open: set[smtplib.SMTP] = set()
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: object) -> SmtpBackend:
        if not settings.smtp_host:
            raise ValueError("RELINK_EMAIL_BACKEND=smtp needs RELINK_SMTP_HOST")
        options: dict[str, object] = {
            "security": settings.smtp_security,
            "username": settings.smtp_username,
            "password": settings.smtp_password,
            "connections": settings.smtp_connections,
            **overrides,
        }
        return cls(settings.smtp_host, settings.smtp_port, **options)  # type: ignore[arg-type]

    # -- connections ------------------------------------------------------------------------

    def _context(self) -> ssl.SSLContext:
        return self.ssl_context or ssl.create_default_context()

    def _connect(self) -> smtplib.SMTP:
        connection: smtplib.SMTP
        if self.security == "ssl":
            connection = smtplib.SMTP_SSL(
                self.host,
                self.port,
                local_hostname=self.local_hostname,
                timeout=self.timeout,
                context=self._context(),
            )
        else:
            connection = smtplib.SMTP(
                self.host, self.port, local_hostname=self.local_hostname, timeout=self.timeout
            )
        try:
            connection.ehlo()
            if self.security == "starttls":
                connection.starttls(context=self._context())
                connection.ehlo()
            if self.username:
                connection.login(self.username, self.password or "")
        except BaseException:
            _close_quietly(connection)
            raise
        with self._lock:
            self._open.add(connection)
        return connection

    def _current(self) -> tuple[smtplib.SMTP, bool]:
        """This thread's connection, and whether it was opened before (so may be stale)."""
        connection: smtplib.SMTP | None = getattr(self._local, "connection", None)
        if connection is not None:
            return connection, True
        connection = self._connect()
        self._local.connection = connection
        return connection, False

    def _drop(self) -> None:
        connection: smtplib.SMTP | None = getattr(self._local, "connection", None)
        self._local.connection = None
        if connection is not None:
            with self._lock:
                self._open.discard(connection)
            _close_quietly(connection)

    def close(self) -> None:
        """Finish the sends in flight, then close every connection (all threads)."""
        with self._lock:
            senders, self._senders = self._senders, None
        if senders is not None:
            senders.shutdown(wait=True)
        with self._lock:
            connections = list(self._open)
            self._open.clear()
        self._local = threading.local()
        for connection in connections:
            _close_quietly(connection)

    # -- sending ----------------------------------------------------------------------------

    def send(self, message: EmailMessage, tags: MessageTags) -> SendResult:
        if self.signer is None and tags.return_path is None:
            return self._deliver(lambda connection: connection.send_message(message))
        addresses = [envelope_address(str(message[name] or "")) for name in ("From", "To")]
        utf8 = not all(address.isascii() for address in addresses)
        raw = message.as_bytes(policy=policy.SMTPUTF8 if utf8 else policy.SMTP)
        sender = tags.return_path or addresses[0]
        return self.send_raw(sender, [addresses[1]], raw, tags, utf8=utf8)

    def send_raw(
        self,
        sender: str,
        recipients: list[str],
        raw: bytes,
        tags: MessageTags,
        *,
        utf8: bool = False,
    ) -> SendResult:
        """Send an already serialised message (CRLF lines) from and to bare addresses
        (signed first, when the signer has a key for its From domain)."""
        if self.signer is not None:
            raw = self.signer.sign(raw)
        options = ["SMTPUTF8"] if utf8 else []
        return self._deliver(
            lambda connection: connection.sendmail(sender, recipients, raw, mail_options=options)
        )

    def submit(
        self,
        message: EmailMessage,
        tags: MessageTags,
        *,
        unless: Callable[[], bool] | None = None,
    ) -> Future[SendResult]:
        """:meth:`send` on one of the sender threads; the future holds its result.

        ``unless`` is asked when a sender thread takes the message, right before it goes
        on the wire: True withdraws it (the result is ``withheld``, nothing is sent).
        """
        return self._sender_pool().submit(self._unless, unless, lambda: self.send(message, tags))

    def submit_raw(
        self,
        sender: str,
        recipients: list[str],
        raw: bytes,
        tags: MessageTags,
        *,
        unless: Callable[[], bool] | None = None,
    ) -> Future[SendResult]:
        """:meth:`send_raw` on one of the sender threads; the future holds its result
        (``unless`` as for :meth:`submit`)."""
        return self._sender_pool().submit(
            self._unless, unless, lambda: self.send_raw(sender, recipients, raw, tags)
        )

    @staticmethod
    def _unless(unless: Callable[[], bool] | None, send: Callable[[], SendResult]) -> SendResult:
        if unless is not None and unless():
            return SendResult(SendOutcome.withheld, reply="withdrawn before sending")
        return send()

    def _sender_pool(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._senders is None:
                self._senders = ThreadPoolExecutor(
                    self.connections, thread_name_prefix="relink-smtp"
                )
            return self._senders

    def _deliver(self, transmit: Callable[[smtplib.SMTP], object]) -> SendResult:
        while True:
            reused = False
            try:
                connection, reused = self._current()
                transmit(connection)
                return SendResult(SendOutcome.accepted, reply="250 accepted", code=250)
            except smtplib.SMTPServerDisconnected as error:
                self._drop()
                if reused:
                    continue  # the server closed an idle connection: open a new one once
                return SendResult(SendOutcome.transient, reply=f"disconnected: {error}")
            except smtplib.SMTPRecipientsRefused as error:
                code, reply = next(iter(error.recipients.values()))
                return replace(classify_reply(code, reply), recipient_refused=True)
            except smtplib.SMTPResponseException as error:
                # Sender refused, data refused, auth failed, HELO refused: the reply says
                # whether it is worth another try. 421 means the server is closing.
                if error.smtp_code == 421:
                    self._drop()
                return classify_reply(error.smtp_code, error.smtp_error)
            except (smtplib.SMTPException, OSError) as error:
                self._drop()
                return SendResult(
                    SendOutcome.transient, reply=f"{type(error).__name__}: {error}"[:1000]
                )


def _close_quietly(connection: smtplib.SMTP) -> None:
    try:
        connection.quit()
    except (smtplib.SMTPException, OSError):
        connection.close()


BACKEND_KEY = "email.backend"


def make_backend(runtime: Runtime) -> EmailBackend:
    settings = runtime.settings
    if settings.email_backend == "smtp":
        signer = DkimSigner(runtime.database, key_box(settings.resolved_secret_key))
        return SmtpBackend.from_settings(settings, signer=signer)
    return MailboxBackend(runtime.database)


def backend_for(runtime: Runtime) -> EmailBackend:
    """The runtime's email backend, made once and then shared (SMTP keeps its connections)."""
    backend = runtime.extras.get(BACKEND_KEY)
    if backend is None:
        backend = runtime.extras.setdefault(BACKEND_KEY, make_backend(runtime))
    return backend  # type: ignore[return-value]
