"""The dashboard's email preview: exactly what a relink request for an account would send."""

from __future__ import annotations

from sqlalchemy.orm import Session as DbSession

from relink.email.messages import RenderedEmail
from relink.email.relink_request import email_locale, render_relink_request
from relink.models import Account, Session, SessionStatus
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
