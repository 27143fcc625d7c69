"""The scopes scans run in: every platform in live mode and in (possibly advanced) test mode."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from relink.models import Platform
from relink.tenancy import Scope


def all_scopes(session: Session) -> list[Scope]:
    scopes = []
    for platform_id, offset in session.execute(
        select(Platform.id, Platform.test_clock_offset_seconds)
    ):
        scopes.append(Scope(platform_id, False, offset))
        scopes.append(Scope(platform_id, True, 0))
    return scopes


def platform_test_scope(session: Session, platform_id: str) -> Scope:
    offset = session.scalar(
        select(Platform.test_clock_offset_seconds).where(Platform.id == platform_id)
    )
    return Scope(platform_id, False, offset or 0)
