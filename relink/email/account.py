"""Emails about a team user's own account: the invitation and the password reset.

Each carries a link that only its recipient may use, so the link exists only in the
email: the row (an :class:`EmailConfirmation` or a :class:`PasswordReset`) stores the
token's digest, and the worker derives the token again from the row's id when it sends
(:func:`link_token`). The built-in mailbox shows such an email only to the team user it
was sent to, never to the rest of the team.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy.orm import Session as DbSession

from relink.email.backends import MessageTags, SendOutcome, backend_for
from relink.email.messages import RenderedEmail, build_message, message_id_for
from relink.kit import clock
from relink.kit.crypto import derived_token
from relink.models import EmailConfirmation, PasswordReset, Platform, User
from relink.outbox.handlers import GiveUp, Job, RetryLater
from relink.outbox.store import enqueue
from relink.runtime import Runtime
from relink.web.templating import render

TEAM_INVITATION = "email.team_invitation"
PASSWORD_RESET = "email.password_reset"
_PURPOSES = {TEAM_INVITATION: "dashboard-confirmation", PASSWORD_RESET: "dashboard-password-reset"}
_PATHS = {TEAM_INVITATION: "/confirm-email/", PASSWORD_RESET: "/reset-password/"}


def link_token(runtime: Runtime, kind: str, row_id: str) -> str:
    """The token of the link an account email of ``kind`` carries for row ``row_id``."""
    return derived_token(runtime.link_key, _PURPOSES[kind], row_id)


def link_url(runtime: Runtime, kind: str, row_id: str) -> str:
    return (
        runtime.settings.public_url.rstrip("/") + _PATHS[kind] + link_token(runtime, kind, row_id)
    )


def queue_invitation(db: DbSession, confirmation: EmailConfirmation, user: User) -> None:
    """Queue the invitation email (in the transaction that made the invitation)."""
    enqueue(
        db,
        TEAM_INVITATION,
        {"confirmation_id": confirmation.id},
        dedupe_key=f"email:invitation:{confirmation.id}",
        platform_id=user.platform_id,
        livemode=False,
    )


def queue_password_reset(db: DbSession, reset: PasswordReset, user: User) -> None:
    enqueue(
        db,
        PASSWORD_RESET,
        {"reset_id": reset.id},
        dedupe_key=f"email:password-reset:{reset.id}",
        platform_id=user.platform_id,
        livemode=False,
    )


def send_account_email(job: Job) -> None:
    """The handler of both kinds: nothing is sent for a link already used or expired."""
    runtime, kind = job.runtime, job.message.kind
    with runtime.database.read_only() as db:
        row: EmailConfirmation | PasswordReset | None
        if kind == TEAM_INVITATION:
            row = db.get(EmailConfirmation, job.message.payload["confirmation_id"])
        else:
            row = db.get(PasswordReset, job.message.payload["reset_id"])
        user = db.get(User, row.user_id) if row is not None else None
        if row is None or user is None or row.used_at is not None:
            return
        if row.expires_at <= clock.now():
            return
        platform = db.get(Platform, user.platform_id)
        assert platform is not None
        locale = platform.default_locale
        context: dict[str, Any] = {
            "platform_name": platform.name,
            "email": user.email,
            "link": link_url(runtime, kind, row.id),
            "hours": _hours(row.expires_at - row.created_at),
        }
        tags = MessageTags(user.platform_id, False, user_id=user.id)
    template = "email/" + kind.removeprefix("email.")
    sender = runtime.settings.email_from
    rendered = RenderedEmail(
        subject=" ".join(render(f"{template}/subject.txt", context, locale=locale).split()),
        text=render(f"{template}/body.txt", context, locale=locale),
        html=render(f"{template}/body.html", context, locale=locale),
        to=user.email,
        sender=sender,
        headers={"Auto-Submitted": "auto-generated"},
        message_id=message_id_for(job.message.id, sender),
    )
    result = backend_for(runtime).send(build_message(rendered), tags)
    if result.accepted:
        return
    if result.outcome == SendOutcome.permanent:
        raise GiveUp(f"SMTP refused: {result.reply}")
    raise RetryLater(f"SMTP deferred: {result.reply}")


def _hours(lifetime: dt.timedelta) -> int:
    return max(1, round(lifetime.total_seconds() / 3600))
