from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from relink.api.rendering import render_holder
from relink.institutions.repository import InstitutionRepository
from relink.models import Authorization, ConnectionStatus
from relink.tenancy import Scope


def render_authorization(
    session: Session, scope: Scope, authorization: Authorization
) -> dict[str, Any]:
    institution = InstitutionRepository(session, scope.livemode).find(authorization.institution_id)
    status_details: dict[str, Any] = {}
    if authorization.status == ConnectionStatus.inactive:
        status_details = {"inactive": {"action": authorization.inactive_action or "none"}}
    return {
        "id": authorization.id,
        "object": "financial_connections.authorization",
        "account_holder": render_holder(
            authorization.holder_type, authorization.customer_id, authorization.connected_account_id
        ),
        "institution": authorization.institution_id,
        "institution_name": institution.name if institution else "",
        "livemode": authorization.livemode,
        "status": authorization.status,
        "status_details": status_details,
    }
