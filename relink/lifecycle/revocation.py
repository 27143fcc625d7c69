"""Asking the worker to revoke a consent at the bank (outbox kind ``connector.revoke``).

Enqueued by :meth:`relink.lifecycle.service.Lifecycle.disconnect` when an authorization's
last account is disconnected; :func:`relink.lifecycle.refresh.run_revoke` does the work.
"""

from __future__ import annotations

from sqlalchemy.orm import Session as DbSession

from relink.outbox.service import enqueue
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
