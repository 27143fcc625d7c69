"""Registering the catalog's institutions (idempotent; run at migrate and startup)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from relink.institutions.catalog import SANDBOX_CATALOG, InstitutionSpec
from relink.kit import clock
from relink.models import Institution


def register_institutions(
    session: Session, specs: tuple[InstitutionSpec, ...] = SANDBOX_CATALOG
) -> int:
    existing = {row.id: row for row in session.scalars(select(Institution))}
    created = 0
    for spec in specs:
        row = existing.get(spec.institution_id)
        if row is None:
            row = Institution(id=spec.institution_id, created_at=clock.now())
            session.add(row)
            created += 1
        row.livemode = spec.livemode
        row.connector = spec.connector
        row.connector_key = spec.key
        row.settings = spec.connector_settings
        row.bic = spec.bic
        row.name = spec.name
        row.url = spec.url
        row.countries = list(spec.countries)
        row.routing_numbers = list(spec.routing_numbers)
        row.features = dict(spec.features)
        row.auth_kind = spec.auth_kind
        row.supports_relink = spec.supports_relink
    return created
