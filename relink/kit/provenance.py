"""Where a state change came from, as its events record it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class EventContext:
    """Where a state change came from, recorded on its events. Not its API version: an
    event is rendered at the platform's default version whoever caused it, and a webhook
    endpoint with a version of its own gets it at that version."""

    request_id: str | None = None
    idempotency_key: str | None = None
