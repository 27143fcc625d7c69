from __future__ import annotations

from typing import Any

from relink.models import Institution

_FEATURES = ("balances", "ownership", "payment_method", "transactions")


def render_institution(institution: Institution) -> dict[str, Any]:
    return {
        "id": institution.id,
        "object": "financial_connections.institution",
        "countries": institution.countries,
        "features": {
            name: {"supported": bool(institution.features.get(name, False))} for name in _FEATURES
        },
        "livemode": institution.livemode,
        "name": institution.name,
        "routing_numbers": institution.routing_numbers,
        "status": institution.health,
        "url": institution.url,
    }
