"""Wire rendering of sessions."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session as DbSession

from relink.accounts.repository import AccountRepository
from relink.accounts.schemas import render_accounts
from relink.api.rendering import render_holder
from relink.models import Account, Session, SessionStatus
from relink.runtime import Runtime
from relink.tenancy import Scope


def hosted_url(runtime: Runtime | None, session: Session) -> str | None:
    """The hosted link while the session is pending (None without a runtime: only a
    finished session, which has no link, is rendered without one)."""
    if session.ui_mode != "hosted" or session.status != SessionStatus.pending or runtime is None:
        return None
    base = runtime.settings.public_url.rstrip("/")
    path = "relink" if session.relink_authorization_id else "connect"
    return f"{base}/{path}/{runtime.link_token(session.id)}"


def render_hosted(session: Session) -> dict[str, Any]:
    """Stripe's schema has ``delivery_method`` as an optional string, never null: a hosted
    link session (no relink, so no delivery) leaves it out."""
    hosted: dict[str, Any] = {"return_url": session.hosted_return_url}
    if session.delivery_method is not None:
        hosted["delivery_method"] = session.delivery_method
    return hosted


def render_session(
    db: DbSession, scope: Scope, runtime: Runtime | None, session: Session
) -> dict[str, Any]:
    accounts: list[Account] = []
    if session.collected_account_ids:
        accounts = list(
            db.scalars(
                AccountRepository(db, scope)
                .select()
                .where(Account.id.in_(session.collected_account_ids))
                .order_by(Account.id.desc())
            )
        )
    filters = session.filters or {}
    body: dict[str, Any] = {
        "id": session.id,
        "object": "financial_connections.session",
        "account_holder": render_holder(
            session.holder_type, session.customer_id, session.connected_account_id
        ),
        "accounts": {
            "object": "list",
            "data": render_accounts(db, scope, accounts),
            "has_more": False,
            "url": f"/v1/financial_connections/accounts?session={session.id}",
        },
        # Derived, never stored; without a runtime (the link-expiry scan's events, for
        # hosted sessions it has just ended) it is left out.
        "client_secret": runtime.client_secret(session.id) if runtime is not None else None,
        "filters": {
            "account_subcategories": filters.get("account_subcategories"),
            "countries": filters.get("countries"),
            **({"country": filters["country"]} if "country" in filters else {}),
            **({"institution": filters["institution"]} if "institution" in filters else {}),
            **{key: filters[key] for key in ("require_payment_method_support",) if key in filters},
        },
        "hosted": render_hosted(session) if session.ui_mode == "hosted" else None,
        "limits": {"accounts": int((session.limits or {}).get("accounts", 100))},
        "livemode": session.livemode,
        "permissions": session.permissions,
        "prefetch": session.prefetch,
        "status": session.status,
        "status_details": (
            {"cancelled": {"reason": session.cancelled_reason or "other"}}
            if session.status == SessionStatus.cancelled
            else {}
        ),
        "ui_mode": session.ui_mode,
        "url": hosted_url(runtime, session),
    }
    if session.return_url is not None:
        body["return_url"] = session.return_url
    if session.bundle_id is not None:
        # Relink's extension (not in Stripe's schema, which allows more properties): the
        # bundle whose one email and page carry this session's link.
        body["relink_bundle"] = session.bundle_id
    if session.relink_authorization_id is not None:
        body["relink_options"] = {
            "authorization": session.relink_authorization_id,
            "account": session.relink_account_id,
        }
        body["relink_result"] = {
            "authorization": session.result_authorization_id,
            "account": session.result_account_id,
            "failure_reason": session.failure_reason,
        }
    return body
