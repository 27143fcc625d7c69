"""Relink bundles: one email and one page for several relink sessions of one holder.

When a bulk request's batch (and so the automation, which runs the same batch) finds
more than one eligible account of one holder — across authorizations and banks — it
makes a bundle: each account still has its own session (its own ``fcsess_``, status,
events and webhooks), and the sessions name the bundle (``bundle_id``, ``relink_bundle``
on the wire). The holder gets one email listing them all with one link,
``{PUBLIC_URL}/relinks/{token}``, to a page that lists every connection to repair.

The token is derived from the bundle's id with the server's link key (as a session's
link token is), and only its SHA-256 is stored: the worker derives it again to email it.
"""

from __future__ import annotations

from sqlalchemy.orm import Session as DbSession

from relink.kit.crypto import derived_token
from relink.models import RelinkBundle, Session
from relink.runtime import Runtime
from relink.sessions.repository import SessionRepository
from relink.tenancy import Scope, ScopedRepository

BUNDLE_PREFIX = "rlbndl"
BUNDLE_PURPOSE = "relink-bundle"
BUNDLE_PATH = "relinks"
RELINK_BUNDLE_EMAIL = "email.relink_bundle"


def bundle_token(runtime: Runtime, bundle_id: str) -> str:
    """The bundle page's token: 256 bits derived from the id with the link key."""
    return derived_token(runtime.link_key, BUNDLE_PURPOSE, bundle_id)


def bundle_path(runtime: Runtime, bundle_id: str) -> str:
    return f"/{BUNDLE_PATH}/{bundle_token(runtime, bundle_id)}"


def bundle_url(runtime: Runtime, bundle_id: str) -> str:
    return runtime.settings.public_url.rstrip("/") + bundle_path(runtime, bundle_id)


class BundleRepository(ScopedRepository[RelinkBundle]):
    model = RelinkBundle
    object_name = "relink_bundle"


def bundled_sessions(db: DbSession, scope: Scope, bundle_id: str) -> list[Session]:
    """The bundle's sessions in its scope (a row of another scope never shows), by id."""
    return list(
        db.scalars(
            SessionRepository(db, scope)
            .select()
            .where(Session.bundle_id == bundle_id)
            .order_by(Session.id)
        )
    )
