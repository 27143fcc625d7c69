"""Reading an institution's connector settings: the checks every connector's
``check_settings`` makes, with messages an operator can act on.

Settings arrive as plain mappings (from a catalog file, the CLI or the database) and are
checked when an institution is configured, so a connector can trust them when it is built.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any
from urllib.parse import urlsplit

from relink.connectors.base import InvalidConnectorSettings


def check_keys(
    settings: Mapping[str, Any], *, required: Collection[str], optional: Collection[str] = ()
) -> None:
    """Every required key is present and no key is unknown (a typo would be ignored)."""
    missing = sorted(key for key in required if settings.get(key) in (None, ""))
    if missing:
        raise InvalidConnectorSettings(f"missing setting(s): {', '.join(missing)}")
    known = set(required) | set(optional)
    unknown = sorted(key for key in settings if key not in known)
    if unknown:
        raise InvalidConnectorSettings(
            f"unknown setting(s): {', '.join(unknown)} (known: {', '.join(sorted(known))})"
        )


def text(settings: Mapping[str, Any], key: str, *, default: str | None = None) -> str | None:
    value = settings.get(key, default)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise InvalidConnectorSettings(f"{key} must be a non-empty string")
    return value


def required_text(settings: Mapping[str, Any], key: str) -> str:
    value = text(settings, key)
    if value is None:
        raise InvalidConnectorSettings(f"missing setting: {key}")
    return value


def url(settings: Mapping[str, Any], key: str, *, required: bool = True) -> str | None:
    """An absolute http(s) URL without credentials, query or fragment."""
    value = text(settings, key)
    if value is None:
        if required:
            raise InvalidConnectorSettings(f"missing setting: {key}")
        return None
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidConnectorSettings(f"{key} must be an absolute http(s) URL, not {value!r}")
    if parts.username or parts.password:
        raise InvalidConnectorSettings(f"{key} must not carry credentials (use the secrets)")
    if parts.fragment:
        raise InvalidConnectorSettings(f"{key} must not have a #fragment")
    return value


def number(
    settings: Mapping[str, Any], key: str, *, minimum: float, maximum: float
) -> float | None:
    value = settings.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidConnectorSettings(f"{key} must be a number")
    if not minimum <= value <= maximum:
        raise InvalidConnectorSettings(f"{key} must be between {minimum:g} and {maximum:g}")
    return float(value)
