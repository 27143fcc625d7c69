"""The bundle email: one relink request for several accounts of one holder.

A bulk request (or the automation) that finds several eligible accounts of one holder
bundles their sessions (:mod:`relink.sessions.bundles`); the holder then gets this one
email, listing each account (bank, masked account, reason) with one link to the bundle's
page. Templates in ``templates/email/relink_bundle/``; the reasons are the relink
request's own (:func:`relink.email.relink_request.relink_reason`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from babel.dates import format_date

from relink.email.messages import RenderedEmail
from relink.email.opt_outs import reminders_url
from relink.email.relink_request import (
    LINK_VALIDITY,
    NoRecipient,
    RelinkEmailData,
    mask,
    platform_context,
    platform_email,
    relink_reason,
    render_email_folder,
)
from relink.models import AUTOMATION, Session
from relink.runtime import Runtime

TEMPLATE_FOLDER = "email/relink_bundle"


def bundle_context(
    listed: Sequence[tuple[Session, RelinkEmailData]], locale: str, *, link: str
) -> dict[str, Any]:
    """What the bundle templates show: every listed session's bank, account and reason."""
    first = listed[0][1]
    # The link works as long as the first of its sessions' links does.
    expires = min((s.link_last_visit_at or s.created_at) for s, _ in listed) + LINK_VALIDITY
    return {
        "platform": platform_context(first.platform),
        "holder_name": first.holder.name,
        "items": [
            {
                "bank": data.institution.name,
                "account_name": data.account.display_name if data.account else None,
                "account_mask": mask(data.account.last4) if data.account else None,
                "reason": relink_reason(data.account, data.authorization, data.numbers, locale),
            }
            for _, data in listed
        ],
        "link": link,
        "expires_on": format_date(expires, format="long", locale=locale),
    }


def render_bundle_email(
    runtime: Runtime,
    listed: Sequence[tuple[Session, RelinkEmailData]],
    locale: str,
    *,
    link: str,
    asked_on: dt.datetime | None = None,
) -> RenderedEmail:
    """The one email of a bundle's still pending sessions (at least one); with
    ``asked_on``, the reminder of the request made that day."""
    holder = listed[0][1].holder
    if not holder.email:
        raise NoRecipient(f"the account holder of bundle {listed[0][0].bundle_id} has no email")
    context = bundle_context(listed, locale, link=link)
    context["asked_on"] = (
        format_date(asked_on, format="long", locale=locale) if asked_on is not None else None
    )
    # As the single email: every bundle says how to stop reminders; the automation's
    # own carry the headers of a mailing one can leave.
    context["reminders_link"] = reminders_url(runtime, listed[0][0])
    bodies = render_email_folder(TEMPLATE_FOLDER, context, locale)
    automatic = all(session.created_by == AUTOMATION for session, _ in listed)
    return platform_email(
        runtime,
        listed[0][1].platform,
        holder.email,
        bodies,
        context,
        unsubscribe=context["reminders_link"] if automatic else None,
    )
