"""The consent receipt (outbox kind ``email.consent_receipt``, docs/consent.md).

After a successful hosted link or relink the holder gets a record of what they agreed to:
the platform, the bank, the accounts (masked), what is shared, when, until when, and how
to take it back (the link to their consent page). Queued in the transaction that grants
or renews the consent, once per session; in test mode it goes, like every holder email,
only to a confirmed team member's address.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from babel.dates import format_date
from sqlalchemy import select
from sqlalchemy.orm import Session as DbSession

from relink.accounts.repository import AccountRepository
from relink.authorizations.consent_links import VALID_FOR, consent_token, consent_url
from relink.authorizations.repository import AuthorizationRepository
from relink.connect_accounts.repository import ConnectedAccountRepository
from relink.customers.repository import CustomerRepository
from relink.email.bank_back import TEST_MODE_REFUSAL, confirmed_team_address
from relink.email.bounces import SUPPRESSED_REFUSAL, active_suppression
from relink.email.holder_mail import refuse_if_suppressed, send_holder_email
from relink.email.messages import RenderedEmail, message_id_for, sender_with_name
from relink.email.relink_request import (
    PERMISSION_ORDER,
    brand_color,
    connected_holder,
    customer_holder,
    holder_locale,
    mask,
    session_holder,
    text_color_on,
)
from relink.kit import clock
from relink.kit.crypto import token_digest
from relink.kit.text import has_control_characters
from relink.models import (
    HolderType,
    Institution,
    OutboxMessage,
    OutboxStatus,
    Platform,
    Session,
)
from relink.outbox.handlers import GiveUp, Job
from relink.outbox.store import enqueue
from relink.tenancy import Scope, platform_scope
from relink.web.templating import render

CONSENT_RECEIPT_EMAIL = "email.consent_receipt"
TEMPLATE_FOLDER = "email/consent_receipt"


def _receipt_key(session_id: str) -> str:
    return f"email:consent_receipt:{session_id}"


def queue_consent_receipt(
    db: DbSession, scope: Scope, session_id: str, authorization_id: str
) -> None:
    """Queue the receipt of the consent a session gave or renewed (once per session)."""
    enqueue(
        db,
        CONSENT_RECEIPT_EMAIL,
        {"session_id": session_id, "authorization_id": authorization_id},
        dedupe_key=_receipt_key(session_id),
        platform_id=scope.platform_id,
        livemode=scope.livemode,
    )


def receipt_refusal(db: DbSession, scope: Scope, address: str | None) -> str | None:
    """Why a receipt to ``address`` stays unsent, or None when it goes: the rules the
    handler gives up by, which the success page asks too before it says one was emailed."""
    if not address:
        return "The account holder has no email address on file."
    if not scope.livemode and not confirmed_team_address(db, scope.platform_id, address):
        return TEST_MODE_REFUSAL
    if active_suppression(db, scope, address, scope.now()) is not None:
        return SUPPRESSED_REFUSAL
    return None


def receipt_delivery(
    db: DbSession, scope: Scope, session_id: str, address: str | None
) -> OutboxStatus | None:
    """Where the session's receipt to ``address`` stands: ``pending`` (on its way),
    ``done`` (sent), or None when none goes (never queued, given up, or refused)."""
    if receipt_refusal(db, scope, address) is not None:
        return None
    status = db.scalars(
        select(OutboxMessage.status).where(OutboxMessage.dedupe_key == _receipt_key(session_id))
    ).first()
    if status is None or status == OutboxStatus.dead:
        return None
    return OutboxStatus(status)


def consent_receipt_context(
    platform: Platform,
    holder_name: str | None,
    bank: str,
    accounts: list[str],
    permissions: list[str],
    given_on: str,
    valid_until: str | None,
    link: str,
    link_until: str,
    *,
    renewed: bool,
) -> dict[str, Any]:
    return {
        "platform": _platform_context(platform),
        "holder_name": holder_name,
        "bank": bank,
        "accounts": accounts,
        "permissions": permissions,
        "given_on": given_on,
        "valid_until": valid_until,
        "link": link,
        "link_until": link_until,
        "renewed": renewed,
    }


def _platform_context(platform: Platform) -> dict[str, Any]:
    color = brand_color(platform.brand_color)
    return {
        "name": platform.name,
        "color": color,
        "button_text_color": text_color_on(color),
        "support_email": platform.support_email,
    }


def _long_date(value: dt.datetime, locale: str) -> str:
    return format_date(value, format="long", locale=locale)


def send_consent_receipt(job: Job) -> None:
    """The handler: render the receipt in the holder's language and send it."""
    runtime = job.runtime
    payload = job.message.payload
    with runtime.database.read_only() as db:
        session = db.get(Session, str(payload["session_id"]))
        platform = db.get(Platform, job.message.platform_id or "")
        if session is None or platform is None:
            return  # gone meanwhile
        scope = platform_scope(
            session.platform_id, session.livemode, platform.test_clock_offset_seconds
        )
        authorization = AuthorizationRepository(db, scope).get(str(payload["authorization_id"]))
        holder = session_holder(db, scope, session)
        refusal = receipt_refusal(db, scope, holder.email)
        if refusal is not None:
            raise GiveUp(refusal)
        assert holder.email  # an address receipt_refusal let through
        holder_id = authorization.customer_id or authorization.connected_account_id
        assert holder_id is not None
        institution = db.get(Institution, authorization.institution_id)
        assert institution is not None
        accounts = [
            a
            for a in AccountRepository(db, scope).of_authorization(authorization.id)
            if a.id in session.collected_account_ids
        ]
        locale = holder_locale(holder, platform)
        now = clock.now()
        token = consent_token(
            runtime, scope, HolderType(authorization.holder_type), holder_id, now=now
        )
        shared = {p for a in accounts for p in a.permissions}
        context = consent_receipt_context(
            platform,
            holder.name,
            institution.name,
            [" ".join(filter(None, (a.display_name, mask(a.last4)))) for a in accounts],
            [p for p in PERMISSION_ORDER if p in shared],
            _long_date(session.finished_at or scope.now(), locale),
            _long_date(authorization.expected_deactivation_at, locale)
            if authorization.expected_deactivation_at
            else None,
            consent_url(runtime, token),
            _long_date(now + VALID_FOR, locale),
            renewed=session.relink_authorization_id is not None
            or session.relink_account_id is not None,
        )
        rendered = _render(job, platform, holder.email, TEMPLATE_FOLDER, context, locale)
    # The session is finished: a bounce suppresses the address, and leaves the delivery
    # of the session's own email (sent long ago) as it was.
    send_holder_email(job, scope, rendered, session_id=session.id, bounces_mark_session=False)


def _render(
    job: Job,
    platform: Platform,
    to: str,
    folder: str,
    context: dict[str, Any],
    locale: str,
) -> RenderedEmail:
    subject = " ".join(render(f"{folder}/subject.txt", context, locale=locale).split())
    context["subject"] = subject
    headers = {"Auto-Submitted": "auto-generated"}
    if platform.support_email and not has_control_characters(platform.support_email):
        headers["Reply-To"] = platform.support_email
    sender = sender_with_name(
        job.runtime.settings.email_from, platform.email_sender_name or platform.name
    )
    return RenderedEmail(
        subject=subject,
        text=render(f"{folder}/body.txt", context, locale=locale),
        html=render(f"{folder}/body.html", context, locale=locale),
        to=to,
        sender=sender,
        headers=headers,
        message_id=message_id_for(job.message.id, sender),
    )


# --------------------------------------------------------------------------- a new link

CONSENT_LINK_EMAIL = "email.consent_link"
LINK_TEMPLATE_FOLDER = "email/consent_link"


def queue_consent_link(
    db: DbSession, scope: Scope, holder_type: HolderType, holder_id: str, expired_token: str
) -> None:
    """Queue a new consent link for the holder (once per expired link asking for it)."""
    enqueue(
        db,
        CONSENT_LINK_EMAIL,
        {"holder_type": str(holder_type), "holder_id": holder_id},
        dedupe_key=f"email:consent_link:{token_digest(expired_token)}",
        platform_id=scope.platform_id,
        livemode=scope.livemode,
    )


def send_consent_link(job: Job) -> None:
    """The handler: a fresh consent link to the holder's address on file."""
    runtime = job.runtime
    payload = job.message.payload
    with runtime.database.read_only() as db:
        platform = db.get(Platform, job.message.platform_id or "")
        if platform is None:
            return
        livemode = bool(job.message.livemode)
        scope = platform_scope(platform.id, livemode, platform.test_clock_offset_seconds)
        holder_type = HolderType(str(payload["holder_type"]))
        holder_id = str(payload["holder_id"])
        if holder_type == HolderType.customer:
            customer = CustomerRepository(db, scope).find(holder_id)
            holder = customer_holder(customer) if customer and not customer.deleted else None
        else:
            connected = ConnectedAccountRepository(db, scope).find(holder_id)
            holder = connected_holder(connected) if connected else None
        if holder is None or not holder.email:
            raise GiveUp(f"the account holder {holder_id} has no email address")
        if not livemode and not confirmed_team_address(db, platform.id, holder.email):
            raise GiveUp(TEST_MODE_REFUSAL)
        refuse_if_suppressed(db, scope, holder.email)
        locale = holder_locale(holder, platform)
        now = clock.now()
        token = consent_token(runtime, scope, holder_type, holder_id, now=now)
        context: dict[str, Any] = {
            "platform": _platform_context(platform),
            "holder_name": holder.name,
            "link": consent_url(runtime, token),
            "link_until": _long_date(now + VALID_FOR, locale),
        }
        rendered = _render(job, platform, holder.email, LINK_TEMPLATE_FOLDER, context, locale)
    send_holder_email(job, scope, rendered, session_id=None, bounces_mark_session=False)
