"""Bounce reports as mail servers write them, and what a test reads back after one."""

from __future__ import annotations

import smtplib

import stripe
from sqlalchemy import select

from relink.bulk_requests.service import request_relinks
from relink.email.bounces import active_suppression
from relink.models import Account, EmailSuppression
from relink.platforms.service import NewPlatform
from relink.runtime import Runtime
from relink.tenancy import Scope, in_scope
from tests.email.factories import eligible_account, request_relink_email
from tests.email.smtp_server import Received, SmtpServer
from tests.factories import drain_outbox

DIAGNOSTIC = "smtp; 550 5.1.1 <{address}>: Recipient address rejected: User unknown"


def dsn(
    received: Received,
    *,
    recipient: str | None = None,
    status: str = "5.1.1",
    action: str = "failed",
    to: str | None = None,
) -> bytes:
    """An RFC 3464 delivery status notification for ``received``, as Postfix writes one."""
    address = recipient or received.rcpt_tos[0]
    headers = "".join(
        f"{name}: {value}\r\n"
        for name, value in received.message.items()
        if name in ("From", "To", "Subject", "Date", "Message-ID")
    )
    text = (
        "From: MAILER-DAEMON@mx.example.net (Mail Delivery System)\r\n"
        f"To: {to or received.mail_from}\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="b0"\r\n'
        "\r\n"
        "--b0\r\n"
        "Content-Type: text/plain\r\n\r\n"
        "I'm sorry to have to inform you that your message could not be delivered.\r\n"
        "--b0\r\n"
        "Content-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.example.net\r\n\r\n"
        f"Final-Recipient: rfc822; {address}\r\n"
        f"Action: {action}\r\n"
        f"Status: {status}\r\n"
        f"Diagnostic-Code: {DIAGNOSTIC.format(address=address)}\r\n"
        "\r\n"
        "--b0\r\n"
        "Content-Type: text/rfc822-headers\r\n\r\n"
        f"{headers}"
        "--b0--\r\n"
    )
    return text.encode()


def complaint(received: Received, *, original_rcpt: str | None = None) -> bytes:
    """An RFC 5965 abuse report about ``received``, carrying its headers as delivered."""
    rcpt = f"Original-Rcpt-To: {original_rcpt}\r\n" if original_rcpt else ""
    text = (
        "From: fbl@isp.example\r\n"
        "To: abuse@relink.example\r\n"
        "Subject: Abuse report\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=feedback-report; boundary="b1"\r\n'
        "\r\n"
        "--b1\r\n"
        "Content-Type: text/plain\r\n\r\n"
        "This is an email abuse report.\r\n"
        "--b1\r\n"
        "Content-Type: message/feedback-report\r\n\r\n"
        "Feedback-Type: abuse\r\n"
        "User-Agent: ISP-FBL/1.0\r\n"
        "Version: 1\r\n"
        f"{rcpt}"
        "\r\n"
        "--b1\r\n"
        "Content-Type: text/rfc822-headers\r\n\r\n"
        f"Return-Path: <{received.mail_from}>\r\n"
        f"Subject: {received.message['Subject']}\r\n"
        "--b1--\r\n"
    )
    return text.encode()


def sent_email(
    client: stripe.StripeClient, platform: NewPlatform, smtp: SmtpServer, runtime: Runtime
) -> tuple[stripe.financial_connections.Account, str, Received]:
    account = eligible_account(client, platform)
    session = request_relink_email(client, account)
    drain_outbox(runtime)
    [received] = smtp.handler.to(platform.owner.email)
    return account, session.id, received


def scope_of(platform: NewPlatform) -> Scope:
    return Scope(platform.platform.id, livemode=False)


def suppressed(runtime: Runtime, platform: NewPlatform, address: str) -> EmailSuppression | None:
    with runtime.database.read_only() as db:
        scope = scope_of(platform)
        return active_suppression(db, scope, address, scope.now())


def bulk_skips(runtime: Runtime, platform: NewPlatform, account_id: str) -> dict[str, int]:
    scope = scope_of(platform)
    query = select(Account).where(in_scope(Account, scope), Account.id == account_id)
    with runtime.database.unit_of_work() as db:
        result = request_relinks(db, scope, runtime, query, actor="test")
    assert result.created == 0
    return dict(result.skipped)


def deliver(receiver: tuple[str, int], report: bytes, to: str) -> None:
    """Hand ``report`` to the bounce receiver over SMTP, as a mail server would."""
    with smtplib.SMTP(*receiver, timeout=30) as connection:
        connection.sendmail("", [to], report)
