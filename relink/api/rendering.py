"""Shapes shared by every resource on the wire."""

from __future__ import annotations

from typing import Any


def render_list(url: str, data: list[dict[str, Any]], has_more: bool) -> dict[str, Any]:
    return {"object": "list", "url": url, "has_more": has_more, "data": data}


def render_holder(
    holder_type: str, customer_id: str | None, account_id: str | None
) -> dict[str, Any]:
    if holder_type == "customer":
        return {"type": "customer", "customer": customer_id}
    return {"type": "account", "account": account_id}
