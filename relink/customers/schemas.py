"""Wire rendering of customers."""

from __future__ import annotations

from typing import Any

from relink.kit.clock import to_unix
from relink.models import Customer


def render_customer(customer: Customer) -> dict[str, Any]:
    if customer.deleted:
        return {"id": customer.id, "object": "customer", "deleted": True}
    return {
        "id": customer.id,
        "object": "customer",
        "address": None,
        "balance": 0,
        "created": to_unix(customer.created_at),
        "currency": None,
        "default_source": None,
        "delinquent": False,
        "description": customer.description,
        "discount": None,
        "email": customer.email,
        "invoice_prefix": None,
        "invoice_settings": {
            "custom_fields": None,
            "default_payment_method": None,
            "footer": None,
            "rendering_options": None,
        },
        "livemode": customer.livemode,
        "metadata": customer.metadata_,
        "name": customer.name,
        "phone": None,
        "preferred_locales": customer.preferred_locales,
        "shipping": None,
        "tax_exempt": "none",
        "test_clock": None,
    }
