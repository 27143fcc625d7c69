"""Stripe's metadata update rule: keys set, keys unset with an empty value, ``{}`` clears."""

from __future__ import annotations

from typing import Any


def merge_metadata(current: dict[str, Any], update: dict[str, str | None] | None) -> dict[str, Any]:
    if update is None:
        return current
    if update == {}:
        return {}
    merged = dict(current)
    for key, value in update.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged
