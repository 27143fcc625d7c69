"""``expand[]``: replace ids by the objects they name, up to four levels deep."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from relink.kit.errors import ApiError

MAX_DEPTH = 4

# Per object type, the (relative, dotted) fields that may be expanded.
EXPANDABLE: dict[str, frozenset[str]] = {
    "financial_connections.account": frozenset(
        {
            "institution",
            "authorization",
            "ownership",
            "account_holder.customer",
            "account_holder.account",
        }
    ),
    "financial_connections.authorization": frozenset(
        {"institution", "account_holder.customer", "account_holder.account"}
    ),
    "financial_connections.session": frozenset(
        {"accounts", "account_holder.customer", "account_holder.account"}
    ),
    "financial_connections.account_ownership": frozenset({"owners"}),
}

Fetch = Callable[[str], dict[str, Any] | None]


def apply(obj: dict[str, Any], paths: list[str], fetch: Fetch) -> dict[str, Any]:
    for path in paths:
        segments = path.split(".")
        if len(segments) > MAX_DEPTH or not all(segments):
            raise ApiError(
                f"You cannot expand more than {MAX_DEPTH} levels of a property ({path}).",
                param="expand",
            )
        _expand(obj, segments, path, fetch)
    return obj


def _expand(obj: dict[str, Any], segments: list[str], path: str, fetch: Fetch) -> None:
    if obj.get("object") == "list":
        if segments[0] != "data":
            raise _cannot(path)
        for item in obj.get("data", []):
            if isinstance(item, dict):
                _expand(item, segments[1:], path, fetch)
        return
    allowed = EXPANDABLE.get(str(obj.get("object")), frozenset())
    holder: dict[str, Any] = obj
    relative: list[str] = []
    for index, segment in enumerate(segments):
        relative.append(segment)
        dotted = ".".join(relative)
        if not isinstance(holder, dict) or segment not in holder:
            raise _cannot(path)
        value = holder[segment]
        if isinstance(value, dict) and "object" not in value:
            holder = value
            continue
        if dotted not in allowed:
            raise _cannot(path)
        if isinstance(value, str):
            fetched = fetch(value)
            if fetched is None:
                return
            holder[segment] = fetched
            value = fetched
        rest = segments[index + 1 :]
        if rest and isinstance(value, dict):
            _expand(value, rest, path, fetch)
        elif rest:
            raise _cannot(path)
        return
    raise _cannot(path)


def _cannot(path: str) -> ApiError:
    return ApiError(f"This property cannot be expanded ({path}).", param="expand")
