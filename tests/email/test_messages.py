from __future__ import annotations

import datetime as dt
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import parseaddr

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from relink.email.messages import (
    InlineImage,
    RenderedEmail,
    build_message,
    compose_bytes,
    envelope_address,
    message_id_for,
    sender_with_name,
    text_and_html,
)

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16


def rendered(**changes: object) -> RenderedEmail:
    fields: dict[str, object] = {
        "subject": "Reconnect your Bänk account",
        "text": "Hello Jürgen,\nreconnect here: https://relink.example/relink/t\n",
        "html": '<p>Hello Jürgen, <a href="https://relink.example/relink/t">reconnect</a></p>',
        "to": "holder@example.com",
        "sender": "Acme <no-reply@relink.example>",
        "message_id": "<obx_1.relink@relink.example>",
    }
    fields.update(changes)
    return RenderedEmail(**fields)  # type: ignore[arg-type]


def test_message_has_text_then_html_alternatives_in_utf8() -> None:
    message = build_message(rendered())

    assert message.get_content_type() == "multipart/alternative"
    parts = list(message.iter_parts())
    assert [part.get_content_type() for part in parts] == ["text/plain", "text/html"]
    assert all(part.get_content_charset() == "utf-8" for part in parts)
    assert text_and_html(message) == (rendered().text, rendered().html + "\n")


def test_message_carries_the_given_message_id_subject_and_addresses() -> None:
    message = build_message(rendered(), date=dt.datetime(2026, 3, 2, 12, tzinfo=dt.UTC))

    assert message["Message-ID"] == "<obx_1.relink@relink.example>"
    assert message["Subject"] == "Reconnect your Bänk account"
    assert message["To"] == "holder@example.com"
    assert message["From"] == "Acme <no-reply@relink.example>"
    assert message["Date"] == "Mon, 02 Mar 2026 12:00:00 +0000"


def test_message_without_a_message_id_is_refused() -> None:
    with pytest.raises(ValueError, match="Message-ID"):
        build_message(rendered(message_id=None))


def test_inline_logo_is_a_related_cid_part_of_the_html() -> None:
    message = build_message(rendered(inline_images=(InlineImage("logo@relink", "image/png", PNG),)))

    related = list(message.iter_parts())[1]
    assert related.get_content_type() == "multipart/related"
    html, logo = list(related.iter_parts())
    assert html.get_content_type() == "text/html"
    assert logo.get_content_type() == "image/png"
    assert logo["Content-ID"] == "<logo@relink>"
    assert logo.get_content() == PNG


def test_message_id_is_derived_from_the_outbox_row_and_the_sender_domain() -> None:
    first = message_id_for("obx_01ABC", "Relink <no-reply@mail.example.com>")
    again = message_id_for("obx_01ABC", "Relink <no-reply@mail.example.com>")

    assert first == again == "<obx_01ABC.relink@mail.example.com>"
    assert message_id_for("obx_01ABD", "no-reply@mail.example.com") != first


def test_sender_shows_the_platform_name_with_the_configured_address() -> None:
    assert (
        sender_with_name("Relink <no-reply@relink.example>", 'Acme "Lending", Inc.')
        == '"Acme \\"Lending\\", Inc." <no-reply@relink.example>'
    )


# The worker's bodies end with one newline, as MIME carries them.
WORKER_HTML = '<p>Hello Jürgen, <a href="https://relink.example/relink/t">reconnect</a></p>\n'


def _parsed(raw: bytes) -> EmailMessage:
    message = BytesParser(policy=policy.default).parsebytes(raw)
    assert isinstance(message, EmailMessage)
    return message


def _same_message(composed: bytes, built: EmailMessage) -> None:
    """Both wire forms say the same to a reader: headers, text and HTML."""
    reread = _parsed(composed)
    rebuilt = _parsed(built.as_bytes(policy=policy.SMTP))
    for name in ("Subject", "From", "To", "Date", "Message-ID", "Reply-To", "Auto-Submitted"):
        assert str(reread[name]) == str(rebuilt[name]), name
    assert text_and_html(reread) == text_and_html(rebuilt)
    assert all(len(line) <= 998 for line in composed.split(b"\r\n"))
    assert b"\n" not in composed.replace(b"\r\n", b"")


def test_composed_wire_form_reads_as_the_built_message() -> None:
    date = dt.datetime(2026, 11, 26, 9, 0, tzinfo=dt.UTC)
    email = rendered(
        html=WORKER_HTML,
        headers={"Reply-To": "support@acme.example", "Auto-Submitted": "auto-generated"},
    )
    composed = compose_bytes(email, date=date)
    assert composed is not None
    _same_message(composed, build_message(email, date=date))


@given(
    subject=st.text(st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")), max_size=200),
    # Business names: letters of any script, digits, single spaces and common punctuation.
    name=st.lists(
        st.text(st.characters(categories=("L", "N")) | st.sampled_from("&.,'-()"), min_size=1),
        min_size=1,
        max_size=6,
    ).map(" ".join),
)
@settings(max_examples=60, deadline=None)
def test_composed_subject_and_sender_name_read_back_as_given(subject: str, name: str) -> None:
    assume(subject.strip() and " ".join(subject.split()) == subject)
    email = rendered(subject=subject, sender=sender_with_name("no-reply@relink.example", name))
    composed = compose_bytes(email)
    if composed is None:  # a shape left to the email package
        return
    reread = _parsed(composed)
    assert str(reread["Subject"]) == subject
    sender = reread["From"].addresses[0]
    assert (sender.display_name, sender.addr_spec) == (name, "no-reply@relink.example")
    assert all(len(line) <= 998 for line in composed.split(b"\r\n"))


@pytest.mark.parametrize(
    "address",
    [
        "holder@example.com",
        "Jenny Rosen <jenny@example.com>",
        '"Rosen, Jenny" <jenny@example.com>',
        "jenny@example.com (Jenny)",
        "Jürgen <j@example.com>",
        "a.b+tag@sub.example.co.uk",
    ],
)
def test_envelope_address_is_what_the_email_package_parses(address: str) -> None:
    assert envelope_address(address) == parseaddr(address)[1]
