"""Bounces and the suppression list (docs/email.md: the bounce flow).

Every email to a holder leaves with a per-message envelope sender, ``bounces+<token>@<bounce
domain>`` (VERP): the token is derived from the outbox row with a server-held key, and
only its digest is stored (:class:`BounceToken`), with the address the email went to.

A report that comes back (over SMTP/LMTP to ``relink bounces serve``, or read from an
IMAP mailbox) is believed only when it names such an address (the envelope recipient,
or a header of the report that carries it), and only about the address that token's
message went to: a forged report, or one naming another address, changes nothing.

What it says is read with flufl.bounce (RFC 3464 delivery status notifications and the
common non-standard shapes of Exim, Postfix, qmail, Exchange …) and, for abuse
complaints, as an RFC 5965 feedback report. A permanent failure or a complaint suppresses
the address for the platform and mode; transient failures suppress it for a while once
they repeat over days (:func:`record_transient`).
"""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
import hmac
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from email.utils import getaddresses

import structlog
from flufl.bounce import all_failures
from sqlalchemy import select
from sqlalchemy.orm import Session as DbSession

from relink.config import Settings
from relink.email.messages import address_domain
from relink.kit import clock, ids
from relink.kit.crypto import token_digest
from relink.models import (
    BounceReport,
    BounceToken,
    DeliveryState,
    EmailDelivery,
    EmailSuppression,
    Platform,
    SessionTimelineEntry,
    SuppressionReason,
    TimelineKind,
)
from relink.tenancy import Scope, platform_scope

log = structlog.get_logger("relink.email.bounces")

PURPOSE = "relink-bounce-address"
LOCAL_PREFIX = "bounces+"
# 128 bits, lower-case hex: survives a receiving system that folds the local part's case.
_TOKEN = re.compile(r"bounces\+([0-9a-f]{32})@", re.IGNORECASE)
# Headers of a report that may carry the address it was sent to (the envelope sender of
# the message that bounced): what an IMAP mailbox shows instead of the SMTP envelope.
ADDRESS_HEADERS = (
    "To",
    "Delivered-To",
    "X-Original-To",
    "Envelope-To",
    "X-Envelope-To",
    "Return-Path",
)
# The transient-failure heuristic: this many transient failures whose first is at least
# TRANSIENT_SPAN old suppress the address for TRANSIENT_PAUSE; a run older than
# TRANSIENT_STALE starts over.
TRANSIENT_FAILURES = 3
TRANSIENT_SPAN = dt.timedelta(days=2)
TRANSIENT_PAUSE = dt.timedelta(days=7)
TRANSIENT_STALE = dt.timedelta(days=14)
MAX_DIAGNOSTIC = 1000
# A report is a few kilobytes; one that carries the whole original message with a logo
# is well under this. Larger messages are not read (over SMTP: refused; over IMAP: left).
MAX_REPORT_BYTES = 1024 * 1024
# Why an email to a suppressed address stays unsent (the timeline and the dead letter).
SUPPRESSED_REFUSAL = (
    "The address is on the suppression list (an earlier email to it bounced); "
    "lift it on the holder's page once the address is fixed."
)


def bounce_token(key: bytes, outbox_id: str) -> str:
    return hmac.new(key, f"{PURPOSE}:{outbox_id}".encode(), hashlib.sha256).hexdigest()[:32]


def bounce_domain(settings: Settings) -> str:
    return (settings.bounce_domain or address_domain(settings.email_from)).lower()


def return_path(settings: Settings, key: bytes, outbox_id: str) -> tuple[str, str]:
    """The envelope sender of the email sent by one outbox row, and its token."""
    token = bounce_token(key, outbox_id)
    return f"{LOCAL_PREFIX}{token}@{bounce_domain(settings)}", token


def token_row(
    scope: Scope,
    token: str,
    *,
    recipient: str,
    message_id: str,
    session_id: str | None,
    now: dt.datetime,
) -> dict[str, object]:
    """The :class:`BounceToken` row of one sent message (written with its delivery)."""
    return {
        "digest": token_digest(token.lower()),
        "platform_id": scope.platform_id,
        "livemode": scope.livemode,
        "session_id": session_id,
        "recipient": recipient.lower(),
        "message_id": message_id,
        "created_at": now,
    }


def tokens_in(addresses: Iterable[str]) -> set[str]:
    return {match.lower() for address in addresses for match in _TOKEN.findall(address)}


class ReportKind(enum.StrEnum):
    permanent = "permanent"
    transient = "transient"
    complaint = "complaint"


@dataclass
class Report:
    """What a bounce or complaint says, before anything about it is believed."""

    tokens: set[str] = field(default_factory=set)
    permanent: set[str] = field(default_factory=set)
    transient: set[str] = field(default_factory=set)
    complaint: bool = False
    # A complaint's Original-Rcpt-To, when the reporter did not redact it.
    complained_about: set[str] = field(default_factory=set)
    diagnostics: dict[str, str] = field(default_factory=dict)


def _header_values(message: Message, names: Iterable[str]) -> list[str]:
    return [str(value) for name in names for value in (message.get_all(name) or [])]


def _embedded(message: Message) -> Message | None:
    """The original message (or its headers) a report carries."""
    for part in message.walk():
        if part.get_content_type() in ("message/rfc822", "text/rfc822-headers"):
            payload = part.get_payload()
            if isinstance(payload, list) and payload and isinstance(payload[0], Message):
                return payload[0]
            if isinstance(payload, str):
                return message_from_bytes(payload.encode("utf-8", "replace"))
    return None


def _status_fields(message: Message) -> dict[str, str]:
    """Per failed recipient (lower case), its ``Status`` and ``Diagnostic-Code`` (RFC 3464)."""
    found: dict[str, str] = {}
    for part in message.walk():
        if part.get_content_type() != "message/delivery-status":
            continue
        payload = part.get_payload()
        blocks = payload if isinstance(payload, list) else []
        for block in blocks:
            if not isinstance(block, Message):
                continue
            recipient = block.get("Final-Recipient") or block.get("Original-Recipient")
            if not recipient:
                continue
            address = str(recipient).partition(";")[2].strip().strip("<>").lower()
            words = [
                str(block.get(name)).strip()
                for name in ("Status", "Diagnostic-Code")
                if block.get(name)
            ]
            found[address] = " ".join(" ".join(words).split())[:MAX_DIAGNOSTIC]
    return found


def read_report(raw: bytes, envelope_recipients: Sequence[str] = ()) -> Report:
    """Parse a bounce or complaint; nothing in it is trusted yet."""
    message = message_from_bytes(raw)
    report = Report()
    report.tokens = tokens_in([*envelope_recipients, *_header_values(message, ADDRESS_HEADERS)])
    original = _embedded(message)
    if message.get_content_type() == "multipart/report" and (
        str(message.get_param("report-type") or "").lower() == "feedback-report"
    ):
        report.complaint = True
        for part in message.walk():
            if part.get_content_type() == "message/feedback-report":
                fields = part.get_payload()
                block = fields[0] if isinstance(fields, list) and fields else part
                if isinstance(block, Message):
                    values = block.get_all("Original-Rcpt-To") or []
                    report.complained_about = {
                        address.lower() for _, address in getaddresses(values) if address
                    }
                    kind = block.get("Feedback-Type")
                    report.diagnostics["*"] = f"complaint: {kind or 'abuse'}"
        if original is not None:
            # The reporter's copy of the message as delivered: its Return-Path is ours.
            report.tokens |= tokens_in(_header_values(original, ("Return-Path",)))
        return report
    try:
        temporary, permanent = all_failures(message)
    except Exception:
        # One of flufl.bounce's detectors trips on an odd message (one without a From
        # header, say) and re-raises: read as no failure, rather than failing for good.
        log.warning("bounce.unreadable", tokens=len(report.tokens))
        temporary, permanent = frozenset(), frozenset()
    report.permanent = {address.decode("utf-8", "replace").lower() for address in permanent}
    report.transient = {address.decode("utf-8", "replace").lower() for address in temporary}
    report.diagnostics = _status_fields(message)
    return report


class Outcome(enum.StrEnum):
    suppressed = "suppressed"
    deferred = "deferred"
    counted = "counted"
    # No token of a message Relink sent, or the report is about another address.
    ignored = "ignored"
    # This very report was acted on before (read twice): nothing more happens.
    duplicate = "duplicate"


def report_digest(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


def ingest(db: DbSession, raw: bytes, envelope_recipients: Sequence[str] = ()) -> Outcome:
    """Act on one incoming report (in the caller's transaction), once: the same bytes
    again are a :attr:`Outcome.duplicate` (:class:`BounceReport`)."""
    report = read_report(raw, envelope_recipients)
    digests = [token_digest(token) for token in sorted(report.tokens)]
    tokens = (
        list(db.scalars(select(BounceToken).where(BounceToken.digest.in_(digests))))
        if digests
        else []
    )
    seen: BounceReport | None = None
    if tokens:
        digest = report_digest(raw)
        if db.get(BounceReport, digest) is not None:
            log.info("bounce.duplicate", digest=digest[:12])
            return Outcome.duplicate
        # Written first: a second transaction acting on the same report at the same time
        # waits on this row's key, then fails instead of acting twice.
        seen = BounceReport(digest=digest, outcome=Outcome.ignored.value, received_at=clock.now())
        db.add(seen)
        db.flush()
    outcome = Outcome.ignored
    for sent in tokens:
        recipient = sent.recipient
        if report.complaint:
            if report.complained_about and recipient not in report.complained_about:
                continue
            kind = ReportKind.complaint
        elif recipient in report.permanent:
            kind = ReportKind.permanent
        elif recipient in report.transient:
            kind = ReportKind.transient
        else:
            continue  # a report about an address this message did not go to
        diagnostic = report.diagnostics.get(recipient) or report.diagnostics.get("*")
        outcome = _apply(db, sent, kind, diagnostic)
    if seen is not None:
        seen.outcome = outcome.value
    if outcome == Outcome.ignored:
        log.info("bounce.ignored", tokens=len(report.tokens), matched=len(tokens))
    return outcome


def _scope_of(db: DbSession, sent: BounceToken) -> Scope:
    platform = db.get(Platform, sent.platform_id)
    offset = platform.test_clock_offset_seconds if platform else 0
    return platform_scope(sent.platform_id, sent.livemode, offset)


def _apply(db: DbSession, sent: BounceToken, kind: ReportKind, diagnostic: str | None) -> Outcome:
    scope = _scope_of(db, sent)
    now = scope.now()
    if kind == ReportKind.transient:
        outcome = record_transient(db, scope, sent.recipient, diagnostic, sent.session_id, now)
    else:
        reason = (
            SuppressionReason.complained
            if kind == ReportKind.complaint
            else SuppressionReason.bounced
        )
        suppress(db, scope, sent.recipient, reason, diagnostic, sent.session_id, now)
        outcome = Outcome.suppressed
    if sent.session_id is not None and kind != ReportKind.transient:
        mark_bounced(db, sent.session_id, diagnostic, now, source="report", kind=kind.value)
    log.info("bounce.applied", kind=kind.value, outcome=outcome.value, session=sent.session_id)
    return outcome


def mark_bounced(
    db: DbSession,
    session_id: str,
    diagnostic: str | None,
    now: dt.datetime,
    **detail: object,
) -> None:
    """The session's delivery shows ``bounced``, and its timeline says why."""
    delivery = db.get(EmailDelivery, session_id)
    if delivery is not None:
        delivery.state = DeliveryState.bounced
        delivery.last_reply = diagnostic
        delivery.updated_at = now
    db.add(
        SessionTimelineEntry(
            id=ids.new("tl"),
            session_id=session_id,
            kind=TimelineKind.email_bounced,
            at=now,
            detail={"reply": diagnostic, **detail},
        )
    )


def _row(db: DbSession, scope: Scope, address: str, now: dt.datetime) -> EmailSuppression:
    address = address.lower()
    row = db.scalars(
        select(EmailSuppression)
        .where(
            EmailSuppression.platform_id == scope.platform_id,
            EmailSuppression.livemode.is_(scope.livemode),
            EmailSuppression.address == address,
        )
        .with_for_update()
    ).first()
    if row is None:
        row = EmailSuppression(
            id=ids.new("sup"),
            platform_id=scope.platform_id,
            livemode=scope.livemode,
            address=address,
            transient_failures=0,
            updated_at=now,
        )
        db.add(row)
    return row


def suppress(
    db: DbSession,
    scope: Scope,
    address: str,
    reason: SuppressionReason,
    diagnostic: str | None,
    session_id: str | None,
    now: dt.datetime,
    *,
    until: dt.datetime | None = None,
) -> EmailSuppression:
    row = _row(db, scope, address, now)
    row.reason = reason
    row.diagnostic = (diagnostic or "")[:MAX_DIAGNOSTIC] or None
    row.session_id = session_id
    row.suppressed_at = now
    row.until = until
    row.lifted_at = None
    row.lifted_by = None
    row.transient_failures = 0
    row.first_transient_at = None
    row.updated_at = now
    db.flush()
    return row


def record_transient(
    db: DbSession,
    scope: Scope,
    address: str,
    diagnostic: str | None,
    session_id: str | None,
    now: dt.datetime,
) -> Outcome:
    """Count one transient failure; enough of them over days suppress for a while."""
    row = _row(db, scope, address, now)
    if is_active(row, now):
        return Outcome.counted  # already suppressed: nothing more to learn
    if row.first_transient_at is None or now - row.first_transient_at > TRANSIENT_STALE:
        row.first_transient_at = now
        row.transient_failures = 0
    row.transient_failures += 1
    row.updated_at = now
    if (
        row.transient_failures >= TRANSIENT_FAILURES
        and now - row.first_transient_at >= TRANSIENT_SPAN
    ):
        suppress(
            db,
            scope,
            address,
            SuppressionReason.deferred,
            diagnostic,
            session_id,
            now,
            until=now + TRANSIENT_PAUSE,
        )
        return Outcome.deferred
    db.flush()
    return Outcome.counted


def is_active(row: EmailSuppression, now: dt.datetime) -> bool:
    return (
        row.suppressed_at is not None
        and row.lifted_at is None
        and (row.until is None or row.until > now)
    )


def suppression_of(db: DbSession, scope: Scope, address: str | None) -> EmailSuppression | None:
    """The address's suppression row in this scope (active or not), if any."""
    if not address:
        return None
    return db.scalars(
        select(EmailSuppression).where(
            EmailSuppression.platform_id == scope.platform_id,
            EmailSuppression.livemode.is_(scope.livemode),
            EmailSuppression.address == address.lower(),
        )
    ).first()


def active_suppression(
    db: DbSession, scope: Scope, address: str | None, now: dt.datetime
) -> EmailSuppression | None:
    row = suppression_of(db, scope, address)
    return row if row is not None and is_active(row, now) else None


def lift(db: DbSession, scope: Scope, address: str, *, actor: str, now: dt.datetime) -> bool:
    """The operator lifts an active suppression (after fixing the address). False when
    the address is not suppressed in this scope."""
    row = active_suppression(db, scope, address, now)
    if row is None:
        return False
    row.lifted_at = now
    row.lifted_by = actor
    row.transient_failures = 0
    row.first_transient_at = None
    row.updated_at = now
    db.flush()
    return True
