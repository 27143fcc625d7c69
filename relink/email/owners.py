"""Emails to a platform's owners about their platform (a disabled webhook endpoint, an
incident at a bank): one outbox row per owner, queued in the transaction that found the
reason, sent in the platform's default language."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session as DbSession

from relink.email.backends import MessageTags, SendOutcome, backend_for
from relink.email.messages import RenderedEmail, build_message, message_id_for
from relink.models import Platform, Role, User
from relink.outbox.handlers import GiveUp, Job, RetryLater
from relink.outbox.store import enqueue
from relink.web.templating import render


def queue_owner_emails(
    db: DbSession,
    kind: str,
    payload: dict[str, Any],
    *,
    dedupe_key: str,
    platform_id: str,
    livemode: bool,
) -> int:
    """Queue one ``kind`` email per owner of the platform (``user_id`` is added to the
    payload and ``:<owner id>`` to the dedupe key); the number queued."""
    owners = list(
        db.scalars(select(User.id).where(User.platform_id == platform_id, User.role == Role.owner))
    )
    for owner_id in owners:
        enqueue(
            db,
            kind,
            {**payload, "user_id": owner_id},
            dedupe_key=f"{dedupe_key}:{owner_id}",
            platform_id=platform_id,
            livemode=livemode,
        )
    return len(owners)


def send_owner_email(
    job: Job,
    template: str,
    context: dict[str, Any],
    *,
    platform: Platform,
    livemode: bool,
) -> None:
    """Send the ``template`` email (subject, text and HTML) to the job's owner; a refused
    email is given up, a deferred one retried. The owner gone: nothing to send."""
    runtime = job.runtime
    with runtime.database.read_only() as db:
        owner = db.get(User, job.message.payload["user_id"])
        if owner is None:
            return
        address = owner.email
    locale = platform.default_locale
    context = {"platform_name": platform.name, "mode": "live" if livemode else "test", **context}
    sender = runtime.settings.email_from
    rendered = RenderedEmail(
        subject=render(f"{template}/subject.txt", context, locale=locale).strip(),
        text=render(f"{template}/body.txt", context, locale=locale),
        html=render(f"{template}/body.html", context, locale=locale),
        to=address,
        sender=sender,
        message_id=message_id_for(job.message.id, sender),
    )
    result = backend_for(runtime).send(build_message(rendered), MessageTags(platform.id, livemode))
    if result.accepted:
        return
    if result.outcome == SendOutcome.permanent:
        raise GiveUp(f"SMTP refused: {result.reply}")
    raise RetryLater(f"SMTP deferred: {result.reply}")
