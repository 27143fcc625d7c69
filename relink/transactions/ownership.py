"""Account ownerships: the owners one ownership refresh found (``fcaowns_…``)."""

from __future__ import annotations

from typing import Any

from relink.kit.clock import to_unix
from relink.models import AccountOwner
from relink.tenancy import ScopedRepository

OWNERS_PER_PAGE = 10


class OwnerRepository(ScopedRepository[AccountOwner]):
    model = AccountOwner
    object_name = "financial_connections.account_owner"


def render_owner(owner: AccountOwner) -> dict[str, Any]:
    return {
        "id": owner.id,
        "object": "financial_connections.account_owner",
        "email": owner.email,
        "name": owner.name,
        "ownership": owner.ownership_id,
        "phone": owner.phone,
        "raw_address": owner.raw_address,
        "refreshed_at": to_unix(owner.refreshed_at),
    }


def render_ownership(owners: OwnerRepository, ownership_id: str) -> dict[str, Any] | None:
    """``expand[]=ownership``: the ownership with the first page of its owners (the rest
    through ``GET /v1/financial_connections/accounts/{id}/owners``)."""
    query = owners.select().where(AccountOwner.ownership_id == ownership_id)
    rows = list(
        owners.session.scalars(query.order_by(AccountOwner.id.desc()).limit(OWNERS_PER_PAGE + 1))
    )
    if not rows:
        return None
    page = rows[:OWNERS_PER_PAGE]
    return {
        "id": ownership_id,
        "object": "financial_connections.account_ownership",
        # One refresh writes an ownership's owners at one moment.
        "created": to_unix(page[0].refreshed_at),
        "owners": {
            "object": "list",
            "data": [render_owner(owner) for owner in page],
            "has_more": len(rows) > OWNERS_PER_PAGE,
            "url": f"/v1/financial_connections/accounts/{page[0].account_id}/owners"
            f"?ownership={ownership_id}",
        },
    }
