"""A rendered email and the MIME message built from it.

The message is ``multipart/alternative`` (plain text, then HTML); an inline logo makes
the HTML part ``multipart/related`` with the image as a ``cid:`` attachment, so the
email loads nothing remote and carries no tracking pixel. The Message-ID comes from
the outbox row that sends it, so a replay after a crash carries the same Message-ID
and the receiving side (or the mailbox backend) can drop the duplicate.
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import itertools
import re
import secrets
from dataclasses import dataclass, field
from email.header import Header
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, getaddresses, parseaddr

from relink.kit import clock
from relink.kit.text import single_line

FALLBACK_DOMAIN = "relink.invalid"
_BOUNDARY_PREFIX = secrets.token_hex(12)
_BOUNDARY_COUNTER = itertools.count()
# RFC 5322's recommended line length; longer header lines are folded.
MAX_HEADER_LINE = 78


@dataclass(frozen=True)
class InlineImage:
    """An image the HTML part shows as ``cid:<cid>``."""

    cid: str
    content_type: str
    data: bytes


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    text: str
    html: str
    to: str
    sender: str
    headers: dict[str, str] = field(default_factory=dict)
    message_id: str | None = None
    inline_images: tuple[InlineImage, ...] = ()


@functools.lru_cache(maxsize=1024)
def address_domain(address: str) -> str:
    """The domain of an address like ``Relink <no-reply@example.com>``."""
    parsed = getaddresses([address])
    email = parsed[0][1] if parsed else ""
    domain = email.rpartition("@")[2].strip().lower()
    return domain or FALLBACK_DOMAIN


def message_id_for(outbox_id: str, sender: str) -> str:
    """The stable Message-ID of the email sent by one outbox row."""
    return f"<{outbox_id}.relink@{address_domain(sender)}>"


@functools.lru_cache(maxsize=1024)
def sender_with_name(configured: str, display_name: str) -> str:
    """The configured sender address shown under the platform's name (on one line,
    whatever the stored name holds: a line break must not stop every email)."""
    parsed = getaddresses([configured])
    email = parsed[0][1] if parsed and parsed[0][1] else configured
    username, _, domain = email.rpartition("@")
    return str(Address(display_name=single_line(display_name), username=username, domain=domain))


def build_message(rendered: RenderedEmail, *, date: dt.datetime | None = None) -> EmailMessage:
    """The MIME message for ``rendered`` (UTF-8, text and HTML alternatives)."""
    if rendered.message_id is None:
        raise ValueError("a message needs a Message-ID before it is built")
    message = EmailMessage()
    message["Subject"] = rendered.subject
    message["From"] = rendered.sender
    message["To"] = rendered.to
    message["Date"] = format_datetime(date or clock.now())
    message["Message-ID"] = rendered.message_id
    for name, value in rendered.headers.items():
        message[name] = value
    message.set_content(rendered.text, subtype="plain", charset="utf-8")
    message.add_alternative(rendered.html, subtype="html", charset="utf-8")
    if rendered.inline_images:
        html_part = message.get_payload()[1]  # type: ignore[index]
        assert isinstance(html_part, EmailMessage)
        for image in rendered.inline_images:
            maintype, _, subtype = image.content_type.partition("/")
            html_part.add_related(
                image.data,
                maintype=maintype,
                subtype=subtype,
                cid=f"<{image.cid}>",
                disposition="inline",
            )
    return message


def text_and_html(message: EmailMessage) -> tuple[str, str]:
    """The plain-text and HTML bodies of a message built by :func:`build_message`."""
    text_part = message.get_body(preferencelist=("plain",))
    html_part = message.get_body(preferencelist=("html",))
    text = text_part.get_content() if isinstance(text_part, EmailMessage) else ""
    html = html_part.get_content() if isinstance(html_part, EmailMessage) else ""
    return str(text), str(html)


# ``user@example.com`` with nothing around it: what parseaddr would give back unchanged.
_BARE_ADDRESS = re.compile(r"[^\s<>()\[\]\\,;:\"@]+@[^\s<>()\[\]\\,;:\"@]+")


def envelope_address(address: str) -> str:
    """The bare address of ``Name <user@example.com>`` (for MAIL FROM / RCPT TO)."""
    if _BARE_ADDRESS.fullmatch(address):
        return address  # most recipients: no name, nothing to parse
    return _parsed_address(address)


@functools.lru_cache(maxsize=1024)
def _parsed_address(address: str) -> str:
    return parseaddr(address)[1]


def _header(name: str, value: str) -> bytes:
    if value.isascii() and len(name) + 2 + len(value) <= MAX_HEADER_LINE:
        # What Header(...).encode() gives a short ASCII value: the value itself.
        return f"{name}: {value}\r\n".encode("ascii")
    return _folded_header(name, value)


@functools.lru_cache(maxsize=1024)
def _folded_header(name: str, value: str) -> bytes:
    charset = "us-ascii" if value.isascii() else "utf-8"
    folded = Header(value, charset, header_name=name).encode(linesep="\r\n")
    return f"{name}: {folded}\r\n".encode("ascii")


def _address_header(name: str, value: str) -> bytes:
    if value.isascii() and _BARE_ADDRESS.fullmatch(value):
        return _header(name, value)
    return _formatted_address_header(name, value)


@functools.lru_cache(maxsize=1024)
def _formatted_address_header(name: str, value: str) -> bytes:
    folded = formataddr(parseaddr(value), charset="utf-8")
    return _header(name, folded) if folded.isascii() else b""


def _text_part(content: str, subtype: str) -> bytes:
    body = base64.encodebytes(content.replace("\r\n", "\n").replace("\n", "\r\n").encode("utf-8"))
    return (
        f'Content-Type: text/{subtype}; charset="utf-8"\r\n'
        "Content-Transfer-Encoding: base64\r\n\r\n"
    ).encode("ascii") + body.replace(b"\n", b"\r\n")


def compose_bytes(rendered: RenderedEmail, *, date: dt.datetime | None = None) -> bytes | None:
    """The wire form (CRLF lines) of what :func:`build_message` builds, composed directly.

    The worker sends thousands of these: the ``email`` package's header registry and
    generator cost more than everything else per email. Only the plain shape is composed
    here (text and HTML alternatives, ASCII addresses, no inline images, no line breaks in
    header values); anything else returns None and goes through :func:`build_message`.
    """
    if rendered.message_id is None:
        raise ValueError("a message needs a Message-ID before it is built")
    values = [rendered.subject, rendered.sender, rendered.to, rendered.message_id]
    values += [*rendered.headers, *rendered.headers.values()]
    if rendered.inline_images or any("\r" in v or "\n" in v for v in values):
        return None
    if not (
        envelope_address(rendered.sender).isascii() and envelope_address(rendered.to).isascii()
    ):
        return None
    addresses = {"from", "to", "reply-to", "cc", "sender"}
    parts = [
        _header("Subject", rendered.subject),
        _address_header("From", rendered.sender),
        _address_header("To", rendered.to),
        _header("Date", format_datetime(date or clock.now())),
        _header("Message-ID", rendered.message_id),
    ]
    for name, value in rendered.headers.items():
        parts.append(
            _address_header(name, value) if name.lower() in addresses else _header(name, value)
        )
    if not all(parts):
        return None
    # Unique per message without a system call per email: a random per-process part and
    # a counter. It cannot occur in the parts, which are base64 (no "." in its alphabet).
    boundary = f"=={_BOUNDARY_PREFIX}.{next(_BOUNDARY_COUNTER)}=="
    parts.append(
        f'MIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary="{boundary}"\r\n\r\n'
        f"--{boundary}\r\n".encode("ascii")
    )
    parts.append(_text_part(rendered.text, "plain"))
    parts.append(f"\r\n--{boundary}\r\n".encode("ascii"))
    parts.append(_text_part(rendered.html, "html"))
    parts.append(f"\r\n--{boundary}--\r\n".encode("ascii"))
    return b"".join(parts)
