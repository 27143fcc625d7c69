"""Bank grants at rest: encrypted with a key derived from RELINK_SECRET_KEY, never logged."""

from __future__ import annotations

from relink.connectors.base import Grant
from relink.models import Authorization
from relink.runtime import Runtime


class GrantMissing(Exception):
    """The authorization holds no grant (it was never linked at a bank)."""


def seal_grant(runtime: Runtime, grant: Grant) -> bytes:
    return runtime.secret_box.seal_bytes(grant.serialize())


def open_grant(runtime: Runtime, authorization: Authorization) -> Grant:
    if authorization.grant_sealed is None:
        raise GrantMissing(f"authorization {authorization.id} has no grant")
    return Grant.deserialize(runtime.secret_box.open_bytes(authorization.grant_sealed))


def store_grant(runtime: Runtime, authorization: Authorization, grant: Grant) -> None:
    """Persist the grant on the authorization (call again after a connector rotated it)."""
    authorization.grant_sealed = seal_grant(runtime, grant)
    grant.mark_persisted()
