"""An authorization's consent history (docs/consent.md): granted when the holder links,
renewed when a relink gives the bank a new consent, revoked when it ends, and by whom.

Every entry is written in the transaction that changes the authorization, so the history
cannot disagree with the state; entries are never changed afterwards.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any

from sqlalchemy.orm import Session

from relink.kit import ids
from relink.kit.clock import to_unix
from relink.models import Account, Authorization, ConsentActor, ConsentEvent, ConsentKind
from relink.tenancy import Scope, ScopedRepository


class ConsentHistory(ScopedRepository[ConsentEvent]):
    model = ConsentEvent
    object_name = "consent_event"

    def of_authorization(self, authorization_id: str) -> list[ConsentEvent]:
        """The authorization's entries, oldest first."""
        return self.of_authorizations([authorization_id]).get(authorization_id, [])

    def of_authorizations(self, authorization_ids: list[str]) -> dict[str, list[ConsentEvent]]:
        """Several authorizations' entries in one query, each oldest first."""
        grouped: dict[str, list[ConsentEvent]] = defaultdict(list)
        if not authorization_ids:
            return grouped
        rows = self.session.scalars(
            self.select()
            .where(ConsentEvent.authorization_id.in_(authorization_ids))
            .order_by(ConsentEvent.at, ConsentEvent.id)
        )
        for row in rows:
            grouped[row.authorization_id].append(row)
        return grouped


def grant_detail(
    authorization: Authorization, accounts: list[Account], permissions: list[str]
) -> dict[str, Any]:
    """What a grant or renewal covered: the permissions, the accounts (masked) and the
    consent's end at the bank (``None`` where the bank sets none)."""
    return {
        "permissions": sorted(set(permissions)),
        "accounts": [{"id": a.id, "last4": a.last4} for a in accounts],
        "valid_until": to_unix(authorization.expected_deactivation_at),
    }


def record_consent(
    session: Session,
    scope: Scope,
    authorization: Authorization,
    kind: ConsentKind,
    actor: ConsentActor,
    detail: dict[str, Any] | None = None,
    *,
    at: dt.datetime | None = None,
) -> ConsentEvent:
    """Add one entry to the authorization's history, in the caller's transaction."""
    event = ConsentEvent(
        id=ids.new("fcconsent"),
        authorization_id=authorization.id,
        kind=kind,
        actor=actor,
        detail=detail or {},
        at=at or scope.now(),
    )
    ConsentHistory(session, scope).add(event)
    return event


def render_consent_history(events: list[ConsentEvent]) -> list[dict[str, Any]]:
    """The ``relink_consent_history`` extension of an authorization (oldest first)."""
    return [
        {
            "kind": event.kind,
            "actor": event.actor,
            "created": to_unix(event.at),
            "permissions": event.detail.get("permissions"),
            "valid_until": event.detail.get("valid_until"),
        }
        for event in events
    ]
