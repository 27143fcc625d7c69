"""Decoding of Stripe-style bracket forms into nested dicts and lists.

``a[b][c]=1`` → ``{"a": {"b": {"c": "1"}}}``; ``x[]=1&x[]=2`` and ``x[0]=1&x[1]=2``
both → ``{"x": ["1", "2"]}``; ``metadata[k]=`` keeps ``""`` (which Stripe reads as
"unset"). Conflicting shapes (``a=1&a[b]=2``) raise :class:`FormError` naming the key.
"""

from __future__ import annotations

import re
from typing import Any, TypeGuard
from urllib.parse import parse_qsl

_KEY = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")
MAX_DEPTH = 8
_MAX_INDEX = 1000


def _is_digits(part: object) -> TypeGuard[str]:
    # ASCII only: str.isdigit() also accepts "²", which int() refuses.
    return isinstance(part, str) and part.isascii() and part.isdigit()


class FormError(ValueError):
    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key


_APPEND = object()


def _split(key: str) -> list[str | object]:
    match = _KEY.match(key)
    if match is None:
        raise FormError(key, f"Invalid parameter name: {key}")
    parts: list[str | object] = [match.group(1)]
    for part in re.findall(r"\[([^\[\]]*)\]", match.group(2)):
        parts.append(_APPEND if part == "" else part)
    if len(parts) > MAX_DEPTH:
        raise FormError(key, f"Parameter nested too deeply: {key}")
    return parts


def decode_pairs(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """Turn ``(key, value)`` pairs into a nested structure."""
    root: dict[str, Any] = {}
    for key, value in pairs:
        _insert(root, key, _split(key), value)
    return _finish(root, "")  # type: ignore[no-any-return]


def decode_query(raw: str | bytes) -> dict[str, Any]:
    text = raw.decode("utf-8", errors="strict") if isinstance(raw, bytes) else raw
    return decode_pairs(parse_qsl(text, keep_blank_values=True, strict_parsing=False))


class _Indexed(dict[int, Any]):
    """A list being built from ``x[0]``-style keys; turned into a list at the end."""


class _Appended(list[Any]):
    """A list being built from ``x[]``-style keys."""


def _insert(node: Any, key: str, parts: list[str | object], value: str) -> None:
    for position, part in enumerate(parts):
        last = position == len(parts) - 1
        following = None if last else parts[position + 1]
        if isinstance(node, _Appended):
            if part is not _APPEND:
                raise FormError(key, f"Invalid array parameter: {key}")
            if last:
                node.append(value)
                return
            child = _new_container(following)
            node.append(child)
            node = child
            continue
        if isinstance(node, _Indexed):
            # The length check comes first: int() refuses strings of over 4,300 digits.
            if not _is_digits(part) or len(part) > 6 or int(part) > _MAX_INDEX:
                raise FormError(key, f"Invalid array index in parameter: {key}")
            slot: Any = int(part)
        else:
            if not isinstance(part, str):
                raise FormError(key, f"Invalid parameter name: {key}")
            slot = part
        if last:
            if slot in node and not (isinstance(node[slot], str)):
                raise FormError(key, f"Conflicting values for parameter: {key}")
            node[slot] = value
            return
        existing = node.get(slot)
        if existing is None:
            existing = _new_container(following)
            node[slot] = existing
        elif isinstance(existing, str) or _container_kind(existing) != _container_kind(
            _new_container(following)
        ):
            raise FormError(key, f"Conflicting values for parameter: {key}")
        node = existing


def _container_kind(container: Any) -> str:
    if isinstance(container, _Appended):
        return "append"
    if isinstance(container, _Indexed):
        return "index"
    return "dict"


def _new_container(part: str | object | None) -> Any:
    if part is _APPEND:
        return _Appended()
    if _is_digits(part):
        return _Indexed()
    return {}


def _finish(node: Any, key: str) -> Any:
    if isinstance(node, _Indexed):
        return [_finish(node[index], key) for index in sorted(node)]
    if isinstance(node, _Appended):
        return [_finish(item, key) for item in node]
    if isinstance(node, dict):
        return {name: _finish(child, key) for name, child in node.items()}
    return node
