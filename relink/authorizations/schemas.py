from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from relink.api.rendering import render_holder
from relink.authorizations.consent import ConsentHistory, render_consent_history
from relink.institutions.repository import InstitutionRepository
from relink.kit.clock import to_unix
from relink.models import Authorization, ConnectionStatus
from relink.tenancy import Scope


def render_authorization(
    session: Session, scope: Scope, authorization: Authorization
) -> dict[str, Any]:
    institution = InstitutionRepository(session, scope.livemode).find(authorization.institution_id)
    status_details: dict[str, Any] = {}
    if authorization.status == ConnectionStatus.inactive:
        status_details = {"inactive": {"action": authorization.inactive_action or "none"}}
    elif (
        authorization.status == ConnectionStatus.active
        and authorization.expected_deactivation_at is not None
    ):
        status_details = {
            "active": {
                "action": "relink_required",
                "expected_deactivation_date": to_unix(authorization.expected_deactivation_at),
            }
        }
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
        # Relink's extension: who granted, renewed and revoked the consent, and when.
        "relink_consent_history": render_consent_history(
            ConsentHistory(session, scope).of_authorization(authorization.id)
        ),
    }
