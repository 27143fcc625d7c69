"""/v1/relink_policy: the key's platform and mode's automatic relink policy (an extension)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from relink.api.params import Boolean, EndpointParams, Integer, Integers, NoParams
from relink.api.router import ApiCall, ApiRouter
from relink.automatic_relink import service
from relink.automatic_relink.schemas import render_policy

router = ApiRouter()


class PolicyParams(EndpointParams):
    enabled: Annotated[
        bool | None,
        Boolean(),
        Field(description="Request eligible accounts and remind their holders automatically."),
    ] = None
    delay_seconds: Annotated[
        int | None,
        Integer(minimum=0, maximum=service.MAX_DELAY_SECONDS),
        Field(description="How long an account stays eligible before it is requested."),
    ] = None
    reminder_days: Annotated[
        list[int] | None,
        Integers(minimum=1, maximum=service.MAX_REMINDER_DAY, max_items=service.MAX_REMINDERS),
        Field(
            description="Days after the first email to remind a holder whose request is pending."
        ),
    ] = None
    expiry_reminder_days: Annotated[
        list[int] | None,
        Integers(
            minimum=1, maximum=service.MAX_EXPIRY_REMINDER_DAY, max_items=service.MAX_REMINDERS
        ),
        Field(description="Days before a TAN or consent expiry to remind a pending holder."),
    ] = None
    max_emails_per_account: Annotated[
        int | None,
        Integer(minimum=1, maximum=service.MAX_EMAILS_PER_ACCOUNT),
        Field(description="The most emails (request and reminders) one account's holder gets."),
    ] = None


@router.get("/v1/relink_policy", NoParams)
def retrieve_policy(call: ApiCall[NoParams]) -> dict[str, Any]:
    """The automatic relink policy of the key's platform and mode (off until turned on)."""
    return render_policy(call.scope, service.policy_of(call.session, call.scope))


@router.post("/v1/relink_policy", PolicyParams)
def update_policy(call: ApiCall[PolicyParams]) -> dict[str, Any]:
    """Change the automatic relink policy of the key's platform and mode; a bad value
    changes nothing."""
    params = call.params
    changes = service.PolicyChanges(
        enabled=params.enabled,
        delay_seconds=params.delay_seconds,
        reminder_days=params.reminder_days,
        expiry_reminder_days=params.expiry_reminder_days,
        max_emails_per_account=params.max_emails_per_account,
    )
    return render_policy(call.scope, service.change_policy(call.session, call.scope, changes))
