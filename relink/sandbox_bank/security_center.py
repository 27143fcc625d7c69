"""The holder's security center: which apps have access, and revoking one."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from relink.sandbox_bank.grants import revoke_grant
from relink.sandbox_bank.models import Grant


@dataclass(frozen=True, slots=True)
class AppAccess:
    id: str
    app_name: str
    authenticated_at: datetime
    account_count: int
    revoked: bool


def apps_with_access(session: Session, institution: str, username: str) -> list[AppAccess]:
    grants = session.scalars(
        select(Grant)
        .where(Grant.institution == institution, Grant.username == username)
        .order_by(Grant.authenticated_at.desc(), Grant.id)
    )
    return [
        AppAccess(
            id=g.id,
            app_name=g.app_name,
            authenticated_at=g.authenticated_at,
            account_count=len(g.account_ids),
            revoked=g.revoked_at is not None,
        )
        for g in grants
    ]


def revoke_by_holder(
    session: Session, institution: str, username: str, grant_id: str, now: datetime
) -> str | None:
    """Revoke one of the holder's grants; returns the app's name, None if not theirs."""
    grant = session.get(Grant, grant_id)
    if grant is None or (grant.institution, grant.username) != (institution, username):
        return None
    revoke_grant(grant, by="holder", now=now)
    return grant.app_name
