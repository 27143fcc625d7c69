"""Holders who met "your bank is unavailable", and what happens when the bank is back.

When the hosted flow finds the bank down (``InstitutionDown``), the session stays pending
and the page says to try later; :func:`note_bank_unavailable` records it on the session's
timeline (``bank_unavailable``, once per session) and, for a session Relink emailed (its
``delivery_method`` is ``email``), a wait. A platform that delivers links itself (``url``)
is not overridden: Relink never emails its holders.

When the institution is healthy again (:data:`INSTITUTION_RECOVERED`, queued by the health
record), :func:`run_institution_recovered` queues one "your bank is back" email per wait
of a still pending session (:mod:`relink.email.bank_back`, once per session, ever) and
wakes the relink emails that waited for the bank.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session as DbSession

from relink.email.bank_back import queue_bank_back_email, wake_bank_back_emails
from relink.email.tasks import wake_waiting_relink_emails
from relink.hosted.links import HostedLink
from relink.kit import clock
from relink.kit.sql import insert_or_ignore
from relink.models import (
    Institution,
    InstitutionHealth,
    InstitutionWait,
    Session,
    SessionStatus,
    SessionTimelineEntry,
    TimelineKind,
)
from relink.outbox.handlers import Job
from relink.sessions import timeline


def note_bank_unavailable(db: DbSession, link: HostedLink, institution: Institution) -> None:
    """The holder met "your bank is unavailable" on ``link``'s pending session."""
    session = link.session
    met_before = db.scalars(
        select(SessionTimelineEntry.id).where(
            SessionTimelineEntry.session_id == session.id,
            SessionTimelineEntry.kind == TimelineKind.bank_unavailable,
        )
    ).first()
    if met_before is not None:
        return
    timeline.record(
        db, session.id, TimelineKind.bank_unavailable, link.scope.now(), institution=institution.id
    )
    if session.delivery_method != "email":
        return  # the platform delivers this link itself: not Relink's to email
    db.execute(
        insert_or_ignore(db, InstitutionWait, index_elements=["session_id"]).values(
            session_id=session.id,
            platform_id=session.platform_id,
            livemode=session.livemode,
            institution_id=institution.id,
            met_at=clock.now(),
        )
    )


def run_institution_recovered(job: Job) -> None:
    """The handler of :data:`INSTITUTION_RECOVERED`: what waited for the bank goes on."""
    institution_id = str(job.message.payload["institution_id"])
    with job.runtime.database.unit_of_work() as db:
        institution = db.get(Institution, institution_id)
        if institution is None or institution.health != InstitutionHealth.active:
            return  # in trouble again: its next recovery does this
        waits = db.scalars(
            select(InstitutionWait)
            .join(Session, Session.id == InstitutionWait.session_id)
            .where(
                InstitutionWait.institution_id == institution_id,
                InstitutionWait.notified_at.is_(None),
                Session.status == SessionStatus.pending,
            )
            .order_by(InstitutionWait.met_at)
        )
        session_ids = []
        for wait in waits:
            queue_bank_back_email(db, wait)
            session_ids.append(wait.session_id)
        wake_bank_back_emails(db, session_ids)  # those that found the bank down again
        wake_waiting_relink_emails(db, institution_id)
