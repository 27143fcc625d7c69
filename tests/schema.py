"""Validation against Stripe's Financial Connections schema (vendored in tests/reference/stripe)."""

from __future__ import annotations

import functools
import json
from typing import Any

from jsonschema import Draft202012Validator

from tests.conftest import SCHEMA_PATH


@functools.cache
def _document() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(SCHEMA_PATH.read_text())
    return document


@functools.cache
def _validator(name: str) -> Draft202012Validator:
    document = _document()
    if name not in document["$defs"]:
        raise KeyError(f"the schema has no definition named {name!r}")
    return Draft202012Validator({**document, "$ref": f"#/$defs/{name}"})


def assert_valid(obj: dict[str, Any], name: str) -> None:
    """Fail with every schema error when ``obj`` is not a valid ``name``."""
    errors = sorted(_validator(name).iter_errors(obj), key=lambda error: list(error.path))
    assert not errors, f"invalid {name}:\n" + "\n".join(
        f"  at {'/'.join(map(str, error.path)) or '(root)'}: {error.message}" for error in errors
    )


def assert_event_valid(event: dict[str, Any]) -> None:
    """An event is valid, and so is its data object for its type."""
    assert_valid(event, "event")
    assert_valid(event["data"], event["type"])
