"""The ``relink_policy`` wire object."""

from __future__ import annotations

from typing import Any

from relink.automatic_relink.service import Policy
from relink.kit.clock import to_unix
from relink.tenancy import Scope


def render_policy(scope: Scope, policy: Policy) -> dict[str, Any]:
    return {
        "object": "relink_policy",
        "livemode": scope.livemode,
        "enabled": policy.enabled,
        "delay_seconds": policy.delay_seconds,
        "reminder_days": list(policy.reminder_days),
        "expiry_reminder_days": list(policy.expiry_reminder_days),
        "max_emails_per_account": policy.max_emails_per_account,
        "updated": to_unix(policy.updated_at),
    }
