from __future__ import annotations

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from relink.kit.errors import ResourceMissing
from relink.models import Institution


class InstitutionRepository:
    """Institutions are shared by all platforms but belong to one mode."""

    def __init__(self, session: Session, livemode: bool) -> None:
        self.session = session
        self.livemode = livemode

    def select(self) -> Select[Institution]:
        return select(Institution).where(Institution.livemode == self.livemode)

    def find(self, institution_id: str) -> Institution | None:
        return self.session.scalars(self.select().where(Institution.id == institution_id)).first()

    def get(self, institution_id: str, *, param: str | None = "id") -> Institution:
        found = self.find(institution_id)
        if found is None:
            raise ResourceMissing("financial_connections.institution", institution_id, param=param)
        return found

    def by_ids(self, institution_ids: set[str]) -> dict[str, Institution]:
        if not institution_ids:
            return {}
        rows = self.session.scalars(self.select().where(Institution.id.in_(institution_ids)))
        return {row.id: row for row in rows}
