"""The scopes scans run in: every platform in live mode and in (possibly advanced) test mode."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from relink.models import Platform
from relink.tenancy import Scope, platform_scope


def all_scopes(session: Session) -> list[Scope]:
    scopes = []
    for platform_id, offset in session.execute(
        select(Platform.id, Platform.test_clock_offset_seconds)
    ):
        scopes.append(platform_scope(platform_id, False, offset))
        scopes.append(platform_scope(platform_id, True, offset))
    return scopes
