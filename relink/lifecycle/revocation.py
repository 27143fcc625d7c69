"""Asking the worker to revoke a consent at the bank (outbox kind ``connector.revoke``).

Enqueued by :meth:`relink.lifecycle.service.Lifecycle.disconnect` when an authorization's
last account is disconnected; :func:`relink.lifecycle.refresh.run_revoke` does the work.

A relink that replaced a consent asks for the *old* one to end
(``connector.end_replaced_grant``, :func:`relink.lifecycle.refresh.run_end_replaced`):
the old grant travels in the message sealed as it was on the authorization.
"""

from __future__ import annotations

from sqlalchemy.orm import Session as DbSession

from relink.kit.crypto import token_digest
from relink.outbox.store import enqueue
from relink.tenancy import Scope

REVOKE = "connector.revoke"


def request_revoke(db: DbSession, scope: Scope, authorization_id: str) -> None:
    enqueue(
        db,
        REVOKE,
        {"authorization_id": authorization_id},
        dedupe_key=f"revoke:{authorization_id}",
        platform_id=scope.platform_id,
        livemode=scope.livemode,
    )


END_REPLACED_GRANT = "connector.end_replaced_grant"


def request_end_replaced(
    db: DbSession, scope: Scope, authorization_id: str, sealed_grant: bytes
) -> None:
    """End the consent a relink just replaced, once this transaction commits."""
    sealed = sealed_grant.decode("ascii")
    enqueue(
        db,
        END_REPLACED_GRANT,
        {"authorization_id": authorization_id, "grant": sealed},
        dedupe_key=f"end-replaced:{authorization_id}:{token_digest(sealed)[:24]}",
        platform_id=scope.platform_id,
        livemode=scope.livemode,
    )
