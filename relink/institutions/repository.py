from __future__ import annotations

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from relink.kit.errors import CursorMissing, ResourceMissing
from relink.kit.pagination import Cursor
from relink.models import Institution


class InstitutionRepository:
    """Institutions are shared by all platforms but belong to one mode."""

    def __init__(self, session: Session, livemode: bool) -> None:
        self.session = session
        self.livemode = livemode

    def select(self) -> Select[Institution]:
        return select(Institution).where(Institution.livemode == self.livemode)

    def offered(self) -> Select[Institution]:
        """The institutions holders and API clients are offered: the enabled ones.

        A disabled institution stays retrievable by id (its accounts name it)."""
        return self.select().where(Institution.disabled_at.is_(None))

    def find(self, institution_id: str) -> Institution | None:
        return self.session.scalars(self.select().where(Institution.id == institution_id)).first()

    def get(self, institution_id: str, *, param: str | None = "id") -> Institution:
        found = self.find(institution_id)
        if found is None:
            raise ResourceMissing("financial_connections.institution", institution_id, param=param)
        return found

    def check_cursor(self, cursor: Cursor) -> None:
        """As :meth:`relink.tenancy.ScopedRepository.check_cursor`."""
        for param, value in (
            ("starting_after", cursor.starting_after),
            ("ending_before", cursor.ending_before),
        ):
            if value is not None and self.find(value) is None:
                raise CursorMissing("financial_connections.institution", value, param=param)

    def by_ids(self, institution_ids: set[str]) -> dict[str, Institution]:
        if not institution_ids:
            return {}
        rows = self.session.scalars(self.select().where(Institution.id.in_(institution_ids)))
        return {row.id: row for row in rows}
