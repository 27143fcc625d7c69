"""Every state-changing dashboard form needs its CSRF token (relink/dashboard/web.py)."""

from __future__ import annotations

import httpx
import pytest
import stripe
from sqlalchemy import func, select

from relink.models import ApiKey, OutboxMessage, Platform, User, WebhookEndpoint
from relink.platforms.service import NewPlatform
from tests.conftest import RunningServer
from tests.dashboard.factories import page_csrf


def _state(server: RunningServer, platform: NewPlatform) -> tuple[object, ...]:
    with server.runtime.database.read_only() as db:
        keys = db.execute(
            select(ApiKey.id, ApiKey.expires_at, ApiKey.revoked_at).where(
                ApiKey.platform_id == platform.platform.id
            )
        ).all()
        found = db.get(Platform, platform.platform.id)
        assert found is not None
        users = db.execute(
            select(User.id, User.role).where(User.platform_id == platform.platform.id)
        ).all()
        outbox = db.scalar(
            select(func.count())
            .select_from(OutboxMessage)
            .where(OutboxMessage.platform_id == platform.platform.id)
        )
    return (sorted(keys), found.name, found.hosted_relink_enabled, sorted(users), outbox)


@pytest.mark.usefixtures("private_webhooks")
def test_every_new_form_is_refused_without_a_valid_csrf_token(
    server: RunningServer, platform: NewPlatform, owner: httpx.Client, client: stripe.StripeClient
) -> None:
    endpoint = client.v1.webhook_endpoints.create(
        params={"url": "http://127.0.0.1:9/hook", "enabled_events": ["*"]}
    )
    key_id = _state(server, platform)[0][0][0]  # type: ignore[index]
    user_id = platform.owner.id
    before = _state(server, platform)
    forms = [
        ("/developers/api-keys", {"name": "x"}),
        (f"/developers/api-keys/{key_id}/roll", {}),
        (f"/developers/api-keys/{key_id}/revoke", {}),
        ("/developers/webhooks", {"url": "http://127.0.0.1:9/x", "events": "*"}),
        (f"/developers/webhooks/{endpoint.id}/status", {"enabled": "0"}),
        (f"/developers/webhooks/{endpoint.id}/secret", {}),
        (f"/developers/webhooks/{endpoint.id}/roll", {"expires": "0"}),
        (f"/developers/webhooks/{endpoint.id}/delete", {}),
        (f"/developers/webhooks/{endpoint.id}/resend", {"event": "evt_x"}),
        ("/settings", {"name": "Changed", "brand_color": "#000000", "default_locale": "en"}),
        ("/settings/team/invite", {"email": "csrf@example.com", "role": "owner"}),
        (f"/settings/team/{user_id}/role", {"role": "viewer"}),
        (f"/settings/team/{user_id}/remove", {}),
    ]
    valid_elsewhere = page_csrf(owner, "/settings")
    for path, data in forms:
        missing = owner.post(path, data=data)
        forged = owner.post(path, data={**data, "csrf_token": valid_elsewhere[:-4] + "AAAA"})
        assert (missing.status_code, forged.status_code) == (403, 403), path
        assert "secret" not in path or "whsec_" not in missing.text
    assert _state(server, platform) == before
    assert client.v1.webhook_endpoints.retrieve(endpoint.id).status == "enabled"
    with server.runtime.database.read_only() as db:
        row = db.get(WebhookEndpoint, endpoint.id)
        assert row is not None
        assert server.runtime.secret_box.open(row.secret_sealed)["secret"] == endpoint.secret
