"""The "your bank is back" email (outbox kind ``email.bank_back``).

A holder who met "your bank is unavailable" on a pending session Relink emailed is told
once, when the bank is healthy again, that they can finish now (the same link). It is
queued when the institution recovers (:mod:`relink.hosted.bank_back`) and goes out at
most once per session: the row's dedupe key is the session's, and the wait records when
it was sent. While the bank is in trouble again it waits; a session no longer pending
gets nothing.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from babel.dates import format_date
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session as DbSession

from relink.email.holder_mail import refuse_if_suppressed, send_holder_email
from relink.email.messages import RenderedEmail, message_id_for, sender_with_name
from relink.email.opt_outs import (
    opt_out_of,
    reminders_url,
    session_holder_id,
    unsubscribe_headers,
)
from relink.email.relink_request import (
    LINK_VALIDITY,
    brand_color,
    holder_locale,
    session_holder,
    text_color_on,
)
from relink.kit import clock
from relink.kit.text import has_control_characters
from relink.models import (
    Institution,
    InstitutionHealth,
    InstitutionWait,
    OutboxMessage,
    Platform,
    Session,
    SessionStatus,
    TimelineKind,
    User,
)
from relink.outbox.handlers import GiveUp, Job, Postponed
from relink.outbox.store import enqueue, wake
from relink.sessions import timeline
from relink.sessions.schemas import hosted_url
from relink.tenancy import platform_scope
from relink.web.templating import render

BANK_BACK_EMAIL = "email.bank_back"
TEMPLATE_FOLDER = "email/bank_back"
# An email that finds its bank in trouble again waits for the next recovery, which wakes
# it; this is only how long it sleeps if nothing wakes it.
WAIT_FOR_RECOVERY = dt.timedelta(hours=1)


def queue_bank_back_email(db: DbSession, wait: InstitutionWait) -> None:
    """Queue the email of one wait (a no-op once queued: one email per session, ever)."""
    enqueue(
        db,
        BANK_BACK_EMAIL,
        {"session_id": wait.session_id},
        dedupe_key=f"email:bank_back:{wait.session_id}",
        platform_id=wait.platform_id,
        livemode=wait.livemode,
    )


def wake_bank_back_emails(db: DbSession, session_ids: list[str]) -> int:
    """The bank-back emails of these sessions that waited for the bank go out now."""
    keys = [f"email:bank_back:{session_id}" for session_id in session_ids]
    return sum(
        wake(db, OutboxMessage.dedupe_key.in_(keys[start : start + 500]))
        for start in range(0, len(keys), 500)
    )


def bank_back_context(
    platform: Platform, holder_name: str | None, bank: str, link: str, expires_on: str
) -> dict[str, Any]:
    color = brand_color(platform.brand_color)
    return {
        "platform": {
            "name": platform.name,
            "color": color,
            "button_text_color": text_color_on(color),
            "support_email": platform.support_email,
        },
        "holder_name": holder_name,
        "bank": bank,
        "link": link,
        "expires_on": expires_on,
    }


# Why a holder email in test mode stays unsent (the outbox row's error).
TEST_MODE_REFUSAL = "In test mode, emails go only to confirmed team members' addresses."


def confirmed_team_address(db: DbSession, platform_id: str, address: str) -> bool:
    query = select(User.id).where(
        User.platform_id == platform_id,
        User.email_confirmed_at.is_not(None),
        func.lower(User.email) == address.lower(),
    )
    return db.scalars(query).first() is not None


def send_bank_back_email(job: Job) -> None:
    """The handler: render the email in the holder's language and send it; record it on
    the session's timeline and the wait."""
    runtime = job.runtime
    session_id = str(job.message.payload["session_id"])
    with runtime.database.read_only() as db:
        wait = db.get(InstitutionWait, session_id)
        session = db.get(Session, session_id)
        if wait is None or session is None or wait.notified_at is not None:
            return  # sent already (a replay), or the session is gone
        link = hosted_url(runtime, session)
        if session.status != SessionStatus.pending or link is None:
            return  # finished meanwhile: nothing to come back to
        institution = db.get(Institution, wait.institution_id)
        assert institution is not None
        if institution.health != InstitutionHealth.active:
            raise Postponed(
                f"waiting for {institution.id} ({institution.health})", delay=WAIT_FOR_RECOVERY
            )
        platform = db.get(Platform, session.platform_id)
        assert platform is not None
        scope = platform_scope(
            session.platform_id, session.livemode, platform.test_clock_offset_seconds
        )
        holder = session_holder(db, scope, session)
        if not holder.email:
            raise GiveUp(f"the account holder of {session.id} has no email address")
        if not session.livemode and not confirmed_team_address(db, platform.id, holder.email):
            raise GiveUp(TEST_MODE_REFUSAL)
        refuse_if_suppressed(db, scope, holder.email)
        holder_id = session_holder_id(session)
        if holder_id is not None and opt_out_of(db, scope, holder_id) is not None:
            # An automatic email, as a reminder is: the holder's opt-out stops it.
            raise GiveUp("The holder opted out of reminders: automatic emails stay unsent.")
        locale = holder_locale(holder, platform)
        expires_on = format_date(
            (session.link_last_visit_at or session.created_at) + LINK_VALIDITY,
            format="long",
            locale=locale,
        )
        context = bank_back_context(platform, holder.name, institution.name, link, expires_on)
        subject = " ".join(render(f"{TEMPLATE_FOLDER}/subject.txt", context, locale=locale).split())
        context["subject"] = subject
        headers = {"Auto-Submitted": "auto-generated"}
        reminders_link = reminders_url(runtime, session)
        if reminders_link:
            headers.update(unsubscribe_headers(reminders_link))
        if platform.support_email and not has_control_characters(platform.support_email):
            headers["Reply-To"] = platform.support_email
        sender = sender_with_name(
            runtime.settings.email_from, platform.email_sender_name or platform.name
        )
        rendered = RenderedEmail(
            subject=subject,
            text=render(f"{TEMPLATE_FOLDER}/body.txt", context, locale=locale),
            html=render(f"{TEMPLATE_FOLDER}/body.html", context, locale=locale),
            to=holder.email,
            sender=sender,
            headers=headers,
            message_id=message_id_for(job.message.id, sender),
        )

    def record(db: DbSession) -> None:
        marked = db.execute(
            update(InstitutionWait)
            .where(InstitutionWait.session_id == session_id, InstitutionWait.notified_at.is_(None))
            .values(notified_at=clock.now())
        )
        if marked.rowcount:  # type: ignore[attr-defined]
            timeline.record(
                db,
                session_id,
                TimelineKind.bank_back_sent,
                scope.now(),
                institution=institution.id,
                message_id=rendered.message_id,
            )

    send_holder_email(
        job, scope, rendered, session_id=session_id, bounces_mark_session=True, record=record
    )
