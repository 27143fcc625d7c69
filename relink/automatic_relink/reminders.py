"""The reminder of a pending automatic request (outbox kind ``email.relink_reminder``).

The scan queues it (:mod:`relink.automatic_relink.tasks`); here the worker sends it with
the pending session's own link (one pending session per account: a reminder never makes
a new one). Right before sending, the automation's conditions are checked again for the
one account (:mod:`relink.automatic_relink.exclusions`), so a holder who repaired, or
whose address went on the suppression list, since the scan is not reminded. It leaves with
its own bounce address (:mod:`relink.email.holder_mail`). While the
bank is in trouble the reminder waits, as the request's email does. The timeline records
``reminder_sent`` once per reminder.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import structlog
from babel.dates import format_date
from sqlalchemy import or_, select
from sqlalchemy.orm import Session as DbSession

from relink.automatic_relink.exclusions import episode_ended, episode_held
from relink.email.holder_mail import send_holder_email
from relink.email.messages import (
    InlineImage,
    RenderedEmail,
    message_id_for,
    sender_with_name,
)
from relink.email.opt_outs import reminders_url, unsubscribe_headers
from relink.email.relink_bundle import render_bundle_email
from relink.email.relink_request import (
    LOGO_CID,
    NoRecipient,
    RelinkEmailData,
    context_of,
    holder_locale,
    load_relink_email_data,
)
from relink.email.tasks import INSTITUTION_RECHECK
from relink.kit.text import has_control_characters
from relink.models import (
    AUTOMATION,
    Account,
    InstitutionHealth,
    Platform,
    Session,
    SessionStatus,
    SessionTimelineEntry,
    TimelineKind,
)
from relink.outbox.handlers import GiveUp, Job, Postponed
from relink.runtime import Runtime
from relink.sessions import timeline
from relink.sessions.bundles import bundle_url
from relink.sessions.schemas import hosted_url
from relink.tenancy import Scope, platform_scope
from relink.web.templating import render

log = structlog.get_logger("relink.automation")

RELINK_REMINDER = "email.relink_reminder"
TEMPLATE_FOLDER = "email/relink_reminder"
# What a reminder is about: the request is still pending, or an expiry is near.
PENDING = "pending"
EXPIRY = "expiry"


def reminder_dedupe_key(session_id: str, number: int) -> str:
    """One outbox row per email of an episode (``number`` counts the request as 1)."""
    return f"email:relink_reminder:{session_id}:{number}"


def _left_alone(db: DbSession, scope: Scope, account_id: str) -> bool:
    """The automation's conditions for this one account, as the scan evaluates them."""
    now = scope.now()
    stopped = db.scalar(
        select(or_(episode_ended(scope, now), episode_held(scope, now))).where(
            Account.id == account_id
        )
    )
    return stopped is None or bool(stopped)


def render_reminder(
    runtime: Runtime, db: DbSession, scope: Scope, session: Session
) -> RenderedEmail:
    """The reminder of ``session`` in its holder's language, with the session's link."""
    link = hosted_url(runtime, session)
    if link is None:
        raise ValueError(f"session {session.id} has no hosted link")
    data = load_relink_email_data(db, scope, session)
    if not data.holder.email:
        raise GiveUp(f"the account holder of {session.id} has no email address")
    locale = holder_locale(data.holder, data.platform)
    context: dict[str, Any] = context_of(data, session, locale, link=link)
    context["asked_on"] = format_date(session.created_at, format="long", locale=locale)
    context["reminders_link"] = reminders_url(runtime, session)
    subject = " ".join(render(f"{TEMPLATE_FOLDER}/subject.txt", context, locale=locale).split())
    context["subject"] = subject
    platform = data.platform
    headers = {"Auto-Submitted": "auto-generated"}
    if context["reminders_link"]:  # a reminder is always automatic
        headers.update(unsubscribe_headers(context["reminders_link"]))
    if platform.support_email and not has_control_characters(platform.support_email):
        headers["Reply-To"] = platform.support_email
    images: tuple[InlineImage, ...] = ()
    if context["platform"]["logo_cid"] and platform.logo_png and platform.logo_content_type:
        images = (InlineImage(LOGO_CID, platform.logo_content_type, platform.logo_png),)
    return RenderedEmail(
        subject=subject,
        text=render(f"{TEMPLATE_FOLDER}/body.txt", context, locale=locale).rstrip() + "\n",
        html=render(f"{TEMPLATE_FOLDER}/body.html", context, locale=locale).rstrip() + "\n",
        to=data.holder.email,
        sender=sender_with_name(
            runtime.settings.email_from, platform.email_sender_name or platform.name
        ),
        headers=headers,
        inline_images=images,
    )


def send_relink_reminder(job: Job) -> None:
    """The handler: check, render and send one reminder email; record it on the timeline
    of each session it reminds of.

    A row reminds of one account, or of the accounts of one bundle that were due
    together (``payload["bundle"]``): each is checked as a reminder of its own would be,
    and those still to repair are listed in one email with the bundle's link; a lone one
    left gets the reminder of its own, with its own link."""
    runtime = job.runtime
    payload = job.message.payload
    bundle = payload.get("bundle")
    with runtime.database.read_only() as db:
        platform = db.get(Platform, job.message.platform_id)
        if platform is None:
            return
        scope = platform_scope(
            platform.id, bool(job.message.livemode), platform.test_clock_offset_seconds
        )
        listed = [
            due
            for reminder in (bundle["reminders"] if bundle else [payload])
            if (due := _still_due(db, scope, reminder)) is not None
        ]
        if not listed:
            return
        if len(listed) == 1:
            rendered = render_reminder(runtime, db, scope, listed[0][0])
        else:
            assert bundle is not None
            try:
                rendered = render_bundle_email(
                    runtime,
                    [(session, data) for session, data, _ in listed],
                    holder_locale(listed[0][1].holder, platform),
                    link=bundle_url(runtime, str(bundle["id"])),
                    asked_on=min(session.created_at for session, _, _ in listed),
                )
            except NoRecipient as missing:
                raise GiveUp(str(missing)) from None
    message_id = message_id_for(job.message.id, rendered.sender)
    rendered = replace(rendered, message_id=message_id)

    def record(db: DbSession) -> None:
        for session, _, reminder in listed:
            number = int(reminder["number"])
            if not _recorded(db, session.id, number):
                timeline.record(
                    db,
                    session.id,
                    TimelineKind.reminder_sent,
                    scope.now(),
                    by=AUTOMATION,
                    reminder=str(reminder.get("reminder", PENDING)),
                    number=number,
                    message_id=message_id,
                )

    first = listed[0][0]
    send_holder_email(
        job, scope, rendered, session_id=first.id, bounces_mark_session=True, record=record
    )
    log.info("automation.reminder_sent", session=first.id, accounts=len(listed))


def _still_due(
    db: DbSession, scope: Scope, reminder: dict[str, Any]
) -> tuple[Session, RelinkEmailData, dict[str, Any]] | None:
    """The session a reminder is about, if it is still to be sent now; waits (raises
    :class:`Postponed`) while the account's bank is in trouble."""
    session = db.get(Session, str(reminder["session_id"]))
    if (
        session is None
        or (session.platform_id, session.livemode) != (scope.platform_id, scope.livemode)
        or session.status != SessionStatus.pending  # repaired, cancelled or expired
    ):
        return None
    if _recorded(db, session.id, int(reminder["number"])):
        return None  # a replay after the reminder was sent
    account_id = str(reminder["account_id"])
    if _left_alone(db, scope, account_id):
        log.info("automation.reminder_withheld", session=session.id, account=account_id)
        return None
    data = load_relink_email_data(db, scope, session)
    if data.institution.health != InstitutionHealth.active:
        raise Postponed(
            f"waiting for {data.institution.id} ({data.institution.health})",
            delay=INSTITUTION_RECHECK,
        )
    return session, data, reminder


def _recorded(db: DbSession, session_id: str, number: int) -> bool:
    entries = db.scalars(
        select(SessionTimelineEntry.detail).where(
            SessionTimelineEntry.session_id == session_id,
            SessionTimelineEntry.kind == TimelineKind.reminder_sent,
        )
    )
    return any(detail.get("number") == number for detail in entries)
