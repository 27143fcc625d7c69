"""The dashboard's email preview: exactly what a relink request for an account would send."""

from __future__ import annotations

import base64
import datetime as dt

from babel.dates import format_date
from sqlalchemy.orm import Session as DbSession

from relink.email.messages import RenderedEmail
from relink.email.relink_request import (
    LINK_VALIDITY,
    NoRecipient,
    connected_sentence,
    email_locale,
    mask,
    platform_context,
    platform_email,
    render_relink_request,
    render_relink_templates_uncached,
)
from relink.kit.i18n import gettext_for
from relink.models import Account, Platform, Session, SessionStatus
from relink.runtime import Runtime
from relink.tenancy import Scope

PREVIEW_TOKEN = "preview"


def preview_link(runtime: Runtime) -> str:
    """A placeholder in place of the real link, which exists only once a session does."""
    return f"{runtime.settings.public_url.rstrip('/')}/relink/{PREVIEW_TOKEN}"


def preview_session(scope: Scope, account: Account) -> Session:
    """The session "Request relink" would create for ``account``; never added to the database."""
    now = scope.now()
    return Session(
        id="fcsess_preview",
        platform_id=scope.platform_id,
        livemode=scope.livemode,
        holder_type=account.holder_type,
        customer_id=account.customer_id,
        connected_account_id=account.connected_account_id,
        permissions=list(account.permissions),
        ui_mode="hosted",
        delivery_method="email",
        relink_authorization_id=account.authorization_id,
        relink_account_id=account.id,
        status=SessionStatus.pending,
        created_at=now,
        updated_at=now,
    )


def preview_relink_email(
    db: DbSession, scope: Scope, runtime: Runtime, account: Account
) -> RenderedEmail:
    session = preview_session(scope, account)
    return render_relink_request(
        db,
        scope,
        runtime,
        session,
        email_locale(db, scope, session),
        link=preview_link(runtime),
    )


def html_for_browser(email: RenderedEmail) -> str:
    """The HTML part as a browser can show it: a mail client finds the logo in the
    message's ``cid:`` part, a browser cannot, so the preview inlines it as a ``data:``
    URI (only here: the email itself keeps the ``cid:`` reference)."""
    html = email.html
    for image in email.inline_images:
        data = base64.b64encode(image.data).decode("ascii")
        html = html.replace(f"cid:{image.cid}", f"data:{image.content_type};base64,{data}")
    return html


def request_email(
    db: DbSession, scope: Scope, runtime: Runtime, session: Session
) -> RenderedEmail | None:
    """The email of an existing relink request as it is sent (its link shown as a
    placeholder: the real one would let the reader act as the holder); None when the
    holder has no email address."""
    try:
        return render_relink_request(
            db,
            scope,
            runtime,
            session,
            email_locale(db, scope, session),
            link=preview_link(runtime),
        )
    except NoRecipient:
        return None


# The brand preview's holder: an example, the same in every language.
SAMPLE_HOLDER = "Ada Lovelace"
SAMPLE_EMAIL = "ada.lovelace@example.com"
SAMPLE_BANK = "Demo Bank"
SAMPLE_LAST4 = "4242"


def brand_preview_email(
    runtime: Runtime, platform: Platform, locale: str, now: dt.datetime
) -> RenderedEmail:
    """The relink email of an example holder, with ``platform``'s branding (a draft's,
    not saved yet): what the settings' brand preview shows."""
    _ = gettext_for(locale).gettext
    context = {
        "platform": platform_context(platform),
        "holder_name": SAMPLE_HOLDER,
        "bank": SAMPLE_BANK,
        "account_name": None,
        "account_mask": mask(SAMPLE_LAST4),
        "reason": _("Your bank asked you to sign in again."),
        # As the email says when and for what the account was first connected. An example: connected a year back, with the permissions a connection usually has.
        "connected": connected_sentence(
            locale,
            last4=SAMPLE_LAST4,
            bank=SAMPLE_BANK,
            platform_name=platform.name,
            connected_at=now - dt.timedelta(days=365),
            permissions=["balances", "transactions"],
        ),
        "link": preview_link(runtime),
        "expires_on": format_date(now + LINK_VALIDITY, format="long", locale=locale),
        "reminders_link": preview_link(runtime) + "/reminders",
    }
    # Uncached: a draft's branding is seen once, it must not fill the senders' cache.
    bodies = render_relink_templates_uncached(context, locale)
    return platform_email(runtime, platform, SAMPLE_EMAIL, bodies, context)
