"""Every outbox kind and its handler, listed explicitly."""

from __future__ import annotations

from relink.email.account import PASSWORD_RESET, TEAM_INVITATION, send_account_email
from relink.email.tasks import send_relink_email, start_relink_emails
from relink.events.service import WEBHOOK_DELIVERY
from relink.lifecycle.refresh import REFRESH, run_end_replaced, run_refresh, run_revoke
from relink.lifecycle.revocation import END_REPLACED_GRANT, REVOKE
from relink.outbox.worker import Batched, Handler, Laned
from relink.relink.bulk import BULK_REQUEST
from relink.relink.tasks import run_bulk_request
from relink.sessions.service import RELINK_EMAIL
from relink.webhooks.notices import ENDPOINT_DISABLED, send_endpoint_disabled
from relink.webhooks.tasks import deliver_webhook

HANDLERS: dict[str, Handler] = {
    WEBHOOK_DELIVERY: Laned(deliver_webhook, lane_key="endpoint_id"),
    ENDPOINT_DISABLED: send_endpoint_disabled,
    TEAM_INVITATION: send_account_email,
    PASSWORD_RESET: send_account_email,
    REFRESH: run_refresh,
    REVOKE: run_revoke,
    END_REPLACED_GRANT: run_end_replaced,
    RELINK_EMAIL: Batched(send_relink_email, start_relink_emails, gives_up_itself=True),
    BULK_REQUEST: run_bulk_request,
}
