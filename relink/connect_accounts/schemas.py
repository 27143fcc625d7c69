from __future__ import annotations

from typing import Any

from relink.kit.clock import to_unix
from relink.models import ConnectedAccount


def render_connected_account(account: ConnectedAccount) -> dict[str, Any]:
    return {
        "id": account.id,
        "object": "account",
        "business_profile": {"name": account.business_name},
        "business_type": None,
        "charges_enabled": False,
        "country": "US",
        "created": to_unix(account.created_at),
        "default_currency": "usd",
        "details_submitted": False,
        "email": account.email,
        "metadata": account.metadata_,
        "payouts_enabled": False,
        "preferred_locales": account.preferred_locales,
        "type": "custom",
        "livemode": account.livemode,
    }
