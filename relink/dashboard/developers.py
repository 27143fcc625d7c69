"""Developers: API keys (create, roll, revoke), and the dashboard's side of webhook
endpoints: the form that adds one and the overlaps a secret roll offers. What is done to
an endpoint (enable/disable, roll the signing secret, delete, resend one event) is
:mod:`relink.webhooks.service`, as for the API.

Keys belong to one mode; the dashboard works on the mode it shows. A plain key exists
only in the answer to "create" or "roll": the database keeps its digest.

Rolling a key creates a new one and lets the old one keep working for
:data:`ROLL_GRACE` (24 hours), long enough to deploy the new key everywhere without
downtime and short enough that a leaked key dies soon. A key already set to expire
sooner keeps its earlier expiry.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from relink.kit import clock
from relink.kit.errors import ApiError
from relink.kit.i18n import M_, N_, Message
from relink.models import ApiKey, WebhookEndpoint
from relink.platforms.repository import ApiKeyRepository
from relink.platforms.service import create_api_key
from relink.runtime import Runtime
from relink.tenancy import Scope
from relink.webhooks.repository import ALL_EVENTS, WebhookEndpointRepository
from relink.webhooks.service import (
    EndpointChanges,
    UrlRefused,
    create_endpoint,
    known_event_type,
)
from relink.webhooks.urls import UnsafeUrl

ROLL_GRACE = dt.timedelta(hours=24)
KEY_NAME_LIMIT = 200


class KeyUnavailable(Exception):
    """The key is revoked or expired: it cannot be rolled or revoked again."""


@dataclass(frozen=True)
class RevealedKey:
    key: ApiKey
    plain: str
    # The key this one replaces, when it was rolled (and when the old one stops working).
    replaces: ApiKey | None = None


def key_state(key: ApiKey, now: dt.datetime) -> str:
    """``active``, ``expiring`` (rolled, still working), ``expired`` or ``revoked``."""
    if key.revoked_at is not None:
        return "revoked"
    if key.expires_at is not None:
        return "expired" if key.expires_at <= now else "expiring"
    return "active"


def _usable_key(db: Session, scope: Scope, key_id: str) -> ApiKey | None:
    key = ApiKeyRepository(db, scope).find(key_id)
    if key is not None and key_state(key, clock.now()) in ("revoked", "expired"):
        raise KeyUnavailable(N_("This key is already revoked or expired."))
    return key


def create_key(db: Session, scope: Scope, name: str) -> RevealedKey:
    key, plain = create_api_key(
        db, scope.platform_id, scope.livemode, name=name.strip()[:KEY_NAME_LIMIT] or None
    )
    return RevealedKey(key, plain)


def roll_key(db: Session, scope: Scope, key_id: str) -> RevealedKey | None:
    """A new key with the same name; the old one expires after :data:`ROLL_GRACE`."""
    old = _usable_key(db, scope, key_id)
    if old is None:
        return None
    grace_ends = clock.now() + ROLL_GRACE
    if old.expires_at is None or old.expires_at > grace_ends:
        old.expires_at = grace_ends
    key, plain = create_api_key(db, scope.platform_id, scope.livemode, name=old.name)
    return RevealedKey(key, plain, replaces=old)


def revealed_again(
    db: Session, scope: Scope, key_id: str, plain: str, replaces_id: str | None
) -> RevealedKey | None:
    """The key just created or rolled, to show its plain value on the page the POST
    redirected to (None when it is not this scope's)."""
    keys = ApiKeyRepository(db, scope)
    key = keys.find(key_id)
    if key is None:
        return None
    replaces = keys.find(replaces_id) if replaces_id else None
    return RevealedKey(key, plain, replaces=replaces)


def revoke_key(db: Session, scope: Scope, key_id: str) -> ApiKey | None:
    """Stop the key at once (the API refuses it from the next request on)."""
    key = _usable_key(db, scope, key_id)
    if key is not None:
        key.revoked_at = clock.now()
    return key


# -- webhook endpoints ----------------------------------------------------------------------


@dataclass
class EndpointForm:
    url: str = ""
    description: str = ""
    events: list[str] = field(default_factory=list)
    errors: dict[str, str | Message] = field(default_factory=dict)

    @classmethod
    def read(cls, url: str, description: str, events: list[str]) -> EndpointForm:
        form = cls(url.strip(), description.strip(), [e for e in events if e])
        if not form.url:
            form.errors["url"] = N_("Enter the URL that should receive events.")
        if not form.events:
            form.errors["events"] = N_("Choose at least one event type, or all events.")
        elif any(e != ALL_EVENTS and not known_event_type(e) for e in form.events):
            form.errors["events"] = N_("Choose event types from the list.")
        if len(form.description) > 5000:
            form.errors["description"] = N_("Use at most 5,000 characters.")
        return form


def create_webhook_endpoint(
    db: Session, scope: Scope, runtime: Runtime, form: EndpointForm
) -> tuple[WebhookEndpoint, str] | None:
    """The endpoint and its signing secret; None with ``form.errors`` filled when refused."""
    assert not form.errors
    events = [ALL_EVENTS] if ALL_EVENTS in form.events else form.events
    try:
        return create_endpoint(
            WebhookEndpointRepository(db, scope),
            runtime.secret_box,
            EndpointChanges(url=form.url, enabled_events=events, description=form.description),
            allow_private=runtime.settings.webhook_allow_private_networks,
        )
    except UrlRefused as refused:
        form.errors["url"] = _url_refusal(refused.unsafe)
        return None
    except ApiError as refused:
        # The API's message is English and names parameters: the form says it in words.
        if (refused.param or "").startswith("enabled_events"):
            form.errors["events"] = N_("Choose event types from the list.")
        else:
            form.errors["url"] = N_("Enter a full web address, like https://example.com/webhooks.")
        return None


def _url_refusal(unsafe: UnsafeUrl) -> str | Message:
    """Why the URL cannot receive events, in the dashboard's words."""
    if unsafe.problem == "not_https":
        return N_("In live mode, the address must start with https://.")
    if unsafe.problem == "credentials":
        return N_("Leave the user name and password out of the address.")
    if unsafe.problem == "loopback":
        return M_(
            "%(host)s is a name for this machine itself; enter an address reachable from "
            "the internet.",
            host=unsafe.host,
        )
    if unsafe.problem == "private":
        return M_(
            "%(host)s leads to a private or reserved network address; enter an address "
            "reachable from the internet.",
            host=unsafe.host,
        )
    return N_("Enter a full web address, like https://example.com/webhooks.")


# When the old signing secret stops signing after a roll, as Stripe's dashboard offers.
SECRET_OVERLAPS = {
    "0": dt.timedelta(0),
    "1h": dt.timedelta(hours=1),
    "2h": dt.timedelta(hours=2),
    "12h": dt.timedelta(hours=12),
    "24h": dt.timedelta(hours=24),
}
DEFAULT_SECRET_OVERLAP = "24h"
