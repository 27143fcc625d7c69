"""Developers pages: API keys (owner only), webhook endpoints, resend, the events log."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import httpx
import pytest
import stripe
from sqlalchemy import select

from relink.dashboard.developers import ROLL_GRACE
from relink.kit import clock
from relink.models import ApiKey, OutboxMessage, Role, WebhookEndpoint
from relink.outbox.dispatcher import OutboxDispatcher
from relink.platforms.service import NewPlatform
from relink.webhooks.service import WEBHOOK_DELIVERY
from relink.worker import HANDLERS
from tests.conftest import RunningServer, make_platform, stripe_client
from tests.dashboard.factories import SCRIPT, csrf_of, member, page_csrf
from tests.factories import create_customer, create_test_account, deactivate
from tests.receivers import webhook_receiver

_PLAIN_KEY = re.compile(r'id="revealed-key">(sk_test_[A-Za-z0-9_-]+)<')
_SECRET = re.compile(r'id="endpoint-secret">(whsec_[A-Za-z0-9_-]+)<')


def _keys(server: RunningServer, platform: NewPlatform) -> list[ApiKey]:
    with server.runtime.database.read_only() as db:
        return list(
            db.scalars(
                select(ApiKey)
                .where(ApiKey.platform_id == platform.platform.id, ApiKey.livemode.is_(False))
                .order_by(ApiKey.id)
            )
        )


def _works(server: RunningServer, key: str) -> bool:
    try:
        stripe_client(server, key).v1.customers.list()
    except stripe.AuthenticationError:
        return False
    return True


def _revealed_key(html: str) -> str:
    found = _PLAIN_KEY.search(html)
    assert found is not None, "no key revealed on the page"
    return found.group(1)


def _create_endpoint(client: stripe.StripeClient, url: str) -> stripe.WebhookEndpoint:
    return client.v1.webhook_endpoints.create(
        params={"url": url, "enabled_events": ["*"], "description": SCRIPT}
    )


def _delivery_rows(server: RunningServer, endpoint_id: str) -> list[OutboxMessage]:
    with server.runtime.database.read_only() as db:
        return [
            row
            for row in db.scalars(
                select(OutboxMessage).where(OutboxMessage.kind == WEBHOOK_DELIVERY)
            )
            if row.payload.get("endpoint_id") == endpoint_id
        ]


# -- API keys ---------------------------------------------------------------------------------


def test_a_created_key_is_shown_once_after_a_redirect_and_then_only_redacted(
    server: RunningServer, platform: NewPlatform, owner: httpx.Client
) -> None:
    created = owner.post(
        "/developers/api-keys", data={"csrf_token": page_csrf(owner, "/developers"), "name": "CI"}
    )
    assert (created.status_code, created.headers["location"]) == (303, "/developers")
    shown = owner.get("/developers")
    plain = _revealed_key(shown.text)
    assert _works(server, plain)
    reloaded = owner.get("/developers").text
    assert plain not in reloaded
    assert plain[:8] + "…" + plain[-4:] in reloaded
    assert len(_keys(server, platform)) == 2  # the reload made no second key


def test_a_new_key_is_not_shown_to_another_sign_in(
    server: RunningServer, platform: NewPlatform, owner: httpx.Client
) -> None:
    created = owner.post(
        "/developers/api-keys", data={"csrf_token": page_csrf(owner, "/developers"), "name": "CI"}
    )
    cookie = owner.cookies.get("relink_new_key")
    assert created.status_code == 303 and cookie
    with member(server, platform, Role.owner) as other_owner:
        other_owner.cookies.set("relink_new_key", cookie)
        html = other_owner.get("/developers").text
    assert 'id="revealed-key"' not in html


def test_rolling_a_key_makes_a_new_one_and_the_old_one_expires_after_the_grace_period(
    server: RunningServer, platform: NewPlatform, owner: httpx.Client
) -> None:
    [old] = _keys(server, platform)
    before = clock.now()
    rolled = owner.post(
        f"/developers/api-keys/{old.id}/roll", data={"csrf_token": page_csrf(owner, "/developers")}
    )
    assert (rolled.status_code, rolled.headers["location"]) == (303, "/developers")
    new_plain = _revealed_key(owner.get("/developers").text)
    old_after, new = _keys(server, platform)
    assert old_after.expires_at is not None
    assert before + ROLL_GRACE <= old_after.expires_at <= clock.now() + ROLL_GRACE
    assert (new.name, new.expires_at) == (old.name, None)
    assert _works(server, platform.test_secret_key) and _works(server, new_plain)


def test_revoking_a_key_asks_first_and_the_question_changes_nothing(
    server: RunningServer, platform: NewPlatform, owner: httpx.Client
) -> None:
    [key] = _keys(server, platform)
    listing = owner.get("/developers").text
    assert f'href="/developers/api-keys/{key.id}/revoke"' in listing
    question = owner.get(f"/developers/api-keys/{key.id}/revoke")
    assert question.status_code == 200
    assert "stops working at once" in question.text
    assert f'action="/developers/api-keys/{key.id}/revoke"' in question.text
    assert _works(server, platform.test_secret_key)


def test_a_revoked_key_is_refused_by_the_api_at_once(
    server: RunningServer, platform: NewPlatform, owner: httpx.Client
) -> None:
    [key] = _keys(server, platform)
    response = owner.post(
        f"/developers/api-keys/{key.id}/revoke",
        data={"csrf_token": page_csrf(owner, f"/developers/api-keys/{key.id}/revoke")},
    )
    assert response.status_code == 303
    assert not _works(server, platform.test_secret_key)


@pytest.mark.parametrize("role", [Role.viewer, Role.admin])
def test_only_owners_can_create_roll_or_revoke_keys(
    server: RunningServer, platform: NewPlatform, role: Role
) -> None:
    [key] = _keys(server, platform)
    with member(server, platform, role) as client_of_role:
        token = page_csrf(client_of_role, "/developers")
        for path in (
            "/developers/api-keys",
            f"/developers/api-keys/{key.id}/roll",
            f"/developers/api-keys/{key.id}/revoke",
        ):
            response = client_of_role.post(path, data={"csrf_token": token})
            assert response.status_code == 403, path
        question = client_of_role.get(f"/developers/api-keys/{key.id}/revoke")
        assert question.status_code == 403
    [unchanged] = _keys(server, platform)
    assert (unchanged.expires_at, unchanged.revoked_at) == (None, None)
    assert _works(server, platform.test_secret_key)


def test_keys_of_another_platform_cannot_be_revoked_by_their_id(
    server: RunningServer, platform: NewPlatform, owner: httpx.Client
) -> None:
    with server.runtime.database.unit_of_work() as db:
        other = make_platform(db)
    [theirs] = _keys(server, other)
    response = owner.post(
        f"/developers/api-keys/{theirs.id}/revoke",
        data={"csrf_token": page_csrf(owner, "/developers")},
    )
    assert response.status_code == 404
    assert _works(server, other.test_secret_key)


# -- webhook endpoints ------------------------------------------------------------------------


def _endpoints_of(server: RunningServer, platform: NewPlatform) -> list[WebhookEndpoint]:
    with server.runtime.database.read_only() as db:
        return list(
            db.scalars(
                select(WebhookEndpoint).where(WebhookEndpoint.platform_id == platform.platform.id)
            )
        )


@pytest.mark.usefixtures("private_webhooks")
def test_an_endpoint_added_in_the_dashboard_shows_its_signing_secret_once_after_a_redirect(
    server: RunningServer, platform: NewPlatform, owner: httpx.Client
) -> None:
    response = owner.post(
        "/developers/webhooks",
        data={
            "csrf_token": page_csrf(owner, "/developers/webhooks"),
            "url": "http://127.0.0.1:9/hook",
            "events": ["financial_connections.account.deactivated"],
        },
    )
    assert response.status_code == 303 and "whsec_" not in response.text
    [endpoint] = _endpoints_of(server, platform)
    assert response.headers["location"] == f"/developers/webhooks/{endpoint.id}"
    shown = owner.get(response.headers["location"])
    secret = _SECRET.search(shown.text)
    assert secret is not None and 'id="created-note"' in shown.text
    stored = server.runtime.secret_box.open(endpoint.secret_sealed)["secret"]
    assert stored == secret.group(1)
    assert endpoint.enabled_events == ["financial_connections.account.deactivated"]
    reloaded = owner.get(response.headers["location"])
    assert reloaded.status_code == 200 and stored not in reloaded.text
    assert len(_endpoints_of(server, platform)) == 1


@pytest.mark.usefixtures("private_webhooks")
def test_revealing_the_secret_redirects_to_the_endpoint_page_that_shows_it_once(
    server: RunningServer, owner: httpx.Client, client: stripe.StripeClient
) -> None:
    endpoint = _create_endpoint(client, "http://127.0.0.1:9/hook")
    revealed = owner.post(
        f"/developers/webhooks/{endpoint.id}/secret",
        data={"csrf_token": page_csrf(owner, "/developers/webhooks")},
    )
    assert revealed.status_code == 303 and "whsec_" not in revealed.text
    assert revealed.headers["location"] == f"/developers/webhooks/{endpoint.id}"
    shown = owner.get(revealed.headers["location"]).text
    found = _SECRET.search(shown)
    assert found is not None and found.group(1) == endpoint.secret
    assert _SECRET.search(owner.get(revealed.headers["location"]).text) is None
    assert _stored_secrets(server, endpoint.id) == (endpoint.secret, None, None)


@pytest.mark.usefixtures("private_webhooks")
def test_deleting_an_endpoint_asks_first_and_the_question_changes_nothing(
    owner: httpx.Client, client: stripe.StripeClient
) -> None:
    endpoint = _create_endpoint(client, "http://127.0.0.1:9/hook")
    detail = owner.get(f"/developers/webhooks/{endpoint.id}").text
    assert f'href="/developers/webhooks/{endpoint.id}/delete"' in detail
    assert f'action="/developers/webhooks/{endpoint.id}/delete"' not in detail
    confirm = owner.get(f"/developers/webhooks/{endpoint.id}/delete")
    assert confirm.status_code == 200
    assert f'action="/developers/webhooks/{endpoint.id}/delete"' in confirm.text
    assert client.v1.webhook_endpoints.retrieve(endpoint.id).status == "enabled"


@pytest.mark.parametrize("url", ["http://10.0.0.1/hook", "http://127.0.0.1:9/hook"])
def test_an_endpoint_url_the_ssrf_guard_refuses_is_an_error_next_to_the_field(
    server: RunningServer, platform: NewPlatform, owner: httpx.Client, url: str
) -> None:
    response = owner.post(
        "/developers/webhooks",
        data={
            "csrf_token": page_csrf(owner, "/developers/webhooks"),
            "url": url,
            "events": ["*"],
        },
    )
    assert response.status_code == 400
    assert 'id="url-error"' in response.text and "private or reserved" in response.text


@pytest.mark.usefixtures("private_webhooks")
def test_resend_queues_a_new_delivery_of_the_event_to_the_endpoint(
    server: RunningServer, owner: httpx.Client, client: stripe.StripeClient
) -> None:
    endpoint = _create_endpoint(client, "http://127.0.0.1:9/hook")
    create_test_account(client, customer=create_customer(client).id)
    [first] = _delivery_rows(server, endpoint.id)
    event_id = first.payload["event_id"]
    response = owner.post(
        f"/developers/webhooks/{endpoint.id}/resend",
        data={"csrf_token": page_csrf(owner, "/developers/webhooks"), "event": event_id},
    )
    assert response.status_code == 303
    rows = _delivery_rows(server, endpoint.id)
    assert [row.payload["event_id"] for row in rows] == [event_id, event_id]
    assert rows[1].dedupe_key != rows[0].dedupe_key and rows[1].status == "pending"


@pytest.mark.usefixtures("private_webhooks")
def test_the_endpoint_page_lists_delivery_attempts_with_code_latency_and_excerpt(
    server: RunningServer, owner: httpx.Client, client: stripe.StripeClient
) -> None:
    with webhook_receiver() as receiver:
        receiver.answers = [500]
        endpoint = _create_endpoint(client, receiver.url)
        create_test_account(client, customer=create_customer(client).id)
        OutboxDispatcher(server.runtime, HANDLERS).drain()
    html = owner.get(f"/developers/webhooks/{endpoint.id}").text
    attempts = html.split('id="attempts"', 1)[1]
    assert ">500<" in attempts and " ms<" in attempts and "nope" in attempts


@pytest.mark.usefixtures("private_webhooks")
def test_disabling_an_endpoint_stops_new_deliveries(
    server: RunningServer, owner: httpx.Client, client: stripe.StripeClient
) -> None:
    endpoint = _create_endpoint(client, "http://127.0.0.1:9/hook")
    response = owner.post(
        f"/developers/webhooks/{endpoint.id}/status",
        data={"csrf_token": page_csrf(owner, "/developers/webhooks"), "enabled": "0"},
    )
    assert response.status_code == 303
    create_test_account(client, customer=create_customer(client).id)
    assert client.v1.webhook_endpoints.retrieve(endpoint.id).status == "disabled"
    assert _delivery_rows(server, endpoint.id) == []


@pytest.mark.usefixtures("private_webhooks")
def test_a_deleted_endpoint_is_gone_from_the_api(
    owner: httpx.Client, client: stripe.StripeClient
) -> None:
    endpoint = _create_endpoint(client, "http://127.0.0.1:9/hook")
    response = owner.post(
        f"/developers/webhooks/{endpoint.id}/delete",
        data={"csrf_token": page_csrf(owner, "/developers/webhooks")},
    )
    assert response.status_code == 303
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.webhook_endpoints.retrieve(endpoint.id)


@pytest.mark.usefixtures("private_webhooks")
def test_a_viewer_cannot_change_webhook_endpoints(
    server: RunningServer, viewer: httpx.Client, client: stripe.StripeClient
) -> None:
    endpoint = _create_endpoint(client, "http://127.0.0.1:9/hook")
    token = page_csrf(viewer, "/developers/webhooks")
    for path, data in (
        ("/developers/webhooks", {"url": "http://127.0.0.1:9/x", "events": "*"}),
        (f"/developers/webhooks/{endpoint.id}/status", {"enabled": "0"}),
        (f"/developers/webhooks/{endpoint.id}/secret", {}),
        (f"/developers/webhooks/{endpoint.id}/roll", {"expires": "0"}),
        (f"/developers/webhooks/{endpoint.id}/delete", {}),
    ):
        assert viewer.post(path, data={"csrf_token": token, **data}).status_code == 403, path
    assert viewer.get(f"/developers/webhooks/{endpoint.id}/roll").status_code == 403
    assert viewer.get(f"/developers/webhooks/{endpoint.id}/delete").status_code == 403
    assert "/roll" not in viewer.get(f"/developers/webhooks/{endpoint.id}").text
    assert client.v1.webhook_endpoints.list().data == [
        client.v1.webhook_endpoints.retrieve(endpoint.id)
    ]


def _endpoint_changes(endpoint_id: str, event_id: str) -> list[tuple[str, dict[str, str]]]:
    """Every dashboard POST that changes an endpoint, reveals its secret or resends to it."""
    return [
        (f"/developers/webhooks/{endpoint_id}/status", {"enabled": "0"}),
        (f"/developers/webhooks/{endpoint_id}/secret", {}),
        (f"/developers/webhooks/{endpoint_id}/roll", {"expires": "0"}),
        (f"/developers/webhooks/{endpoint_id}/resend", {"event": event_id}),
        (f"/developers/webhooks/{endpoint_id}/delete", {}),
    ]


@pytest.mark.usefixtures("private_webhooks")
def test_another_platforms_endpoint_cannot_be_changed_revealed_or_resent_to_from_the_dashboard(
    server: RunningServer, owner: httpx.Client, client: stripe.StripeClient
) -> None:
    with server.runtime.database.unit_of_work() as db:
        other = make_platform(db, name="Other Lending")
    other_client = stripe_client(server, other.test_secret_key)
    theirs = _create_endpoint(other_client, "http://127.0.0.1:9/theirs")
    mine = _create_endpoint(client, "http://127.0.0.1:9/mine")
    create_test_account(client, customer=create_customer(client).id)
    create_test_account(other_client, customer=create_customer(other_client).id)
    [my_delivery] = _delivery_rows(server, mine.id)
    [their_delivery] = _delivery_rows(server, theirs.id)
    their_secret = _stored_secrets(server, theirs.id)
    token = page_csrf(owner, "/developers/webhooks")
    their_event = their_delivery.payload["event_id"]
    attempts = [
        *_endpoint_changes(theirs.id, their_event),
        # My endpoint, their event: the event is as missing as their endpoint.
        (f"/developers/webhooks/{mine.id}/resend", {"event": their_event}),
    ]
    for path, data in attempts:
        response = owner.post(path, data={"csrf_token": token, **data})
        assert response.status_code == 404, path
        assert "whsec_" not in response.text, path
    assert owner.get(f"/developers/webhooks/{theirs.id}/delete").status_code == 404
    assert other_client.v1.webhook_endpoints.retrieve(theirs.id).status == "enabled"
    assert _stored_secrets(server, theirs.id) == their_secret
    assert [row.id for row in _delivery_rows(server, theirs.id)] == [their_delivery.id]
    assert [row.id for row in _delivery_rows(server, mine.id)] == [my_delivery.id]


@pytest.mark.usefixtures("private_webhooks")
def test_a_test_mode_endpoint_cannot_be_changed_from_the_live_mode_dashboard(
    server: RunningServer, owner: httpx.Client, client: stripe.StripeClient
) -> None:
    endpoint = _create_endpoint(client, "http://127.0.0.1:9/hook")
    create_test_account(client, customer=create_customer(client).id)
    [delivery] = _delivery_rows(server, endpoint.id)
    secret = _stored_secrets(server, endpoint.id)
    token = page_csrf(owner)
    owner.post("/mode", data={"csrf_token": token, "livemode": "1", "next": "/developers"})
    token = page_csrf(owner, "/developers/webhooks")
    for path, data in _endpoint_changes(endpoint.id, delivery.payload["event_id"]):
        assert owner.post(path, data={"csrf_token": token, **data}).status_code == 404, path
    assert client.v1.webhook_endpoints.retrieve(endpoint.id).status == "enabled"
    assert _stored_secrets(server, endpoint.id) == secret
    assert [row.id for row in _delivery_rows(server, endpoint.id)] == [delivery.id]


def _stored_secrets(server: RunningServer, endpoint_id: str) -> tuple[str, str | None, Any]:
    with server.runtime.database.read_only() as db:
        row = db.get(WebhookEndpoint, endpoint_id)
        assert row is not None
        box = server.runtime.secret_box
        previous = row.previous_secret_sealed
        return (
            box.open(row.secret_sealed)["secret"],
            None if previous is None else box.open(previous)["secret"],
            row.previous_secret_expires_at,
        )


@pytest.mark.usefixtures("private_webhooks")
def test_rolling_the_secret_asks_first_then_shows_the_new_secret_once_after_a_redirect(
    server: RunningServer, owner: httpx.Client, client: stripe.StripeClient
) -> None:
    endpoint = _create_endpoint(client, "http://127.0.0.1:9/hook")
    detail = owner.get(f"/developers/webhooks/{endpoint.id}").text
    assert f'href="/developers/webhooks/{endpoint.id}/roll"' in detail
    confirm = owner.get(f"/developers/webhooks/{endpoint.id}/roll")
    assert confirm.status_code == 200
    assert '<option value="24h" selected>' in confirm.text
    assert _stored_secrets(server, endpoint.id) == (endpoint.secret, None, None)

    before = clock.now()
    rolled = owner.post(
        f"/developers/webhooks/{endpoint.id}/roll",
        data={"csrf_token": csrf_of(confirm.text), "expires": "1h"},
    )
    assert rolled.status_code == 303
    assert rolled.headers["location"] == f"/developers/webhooks/{endpoint.id}"
    assert "whsec_" not in rolled.text
    new_secret, old_secret, old_expires_at = _stored_secrets(server, endpoint.id)
    assert old_secret == endpoint.secret and new_secret != endpoint.secret
    assert before + dt.timedelta(hours=1) <= old_expires_at <= clock.now() + dt.timedelta(hours=1)

    shown = owner.get(rolled.headers["location"])
    found = _SECRET.search(shown.text)
    assert found is not None and found.group(1) == new_secret
    assert 'id="rolled-note"' in shown.text
    reloaded = owner.get(rolled.headers["location"])
    assert reloaded.status_code == 200
    assert _SECRET.search(reloaded.text) is None and new_secret not in reloaded.text
    assert _stored_secrets(server, endpoint.id)[0] == new_secret  # rolled once only


@pytest.mark.usefixtures("private_webhooks")
def test_rolling_the_secret_with_an_unknown_expiry_is_refused_and_changes_nothing(
    server: RunningServer, owner: httpx.Client, client: stripe.StripeClient
) -> None:
    endpoint = _create_endpoint(client, "http://127.0.0.1:9/hook")
    response = owner.post(
        f"/developers/webhooks/{endpoint.id}/roll",
        data={"csrf_token": page_csrf(owner, "/developers/webhooks"), "expires": "48h"},
    )
    assert response.status_code == 400
    assert 'id="roll-error"' in response.text
    assert _stored_secrets(server, endpoint.id) == (endpoint.secret, None, None)


@pytest.mark.usefixtures("private_webhooks")
def test_the_rolled_secret_is_not_shown_to_another_sign_in(
    server: RunningServer, platform: NewPlatform, owner: httpx.Client, client: stripe.StripeClient
) -> None:
    endpoint = _create_endpoint(client, "http://127.0.0.1:9/hook")
    rolled = owner.post(
        f"/developers/webhooks/{endpoint.id}/roll",
        data={"csrf_token": page_csrf(owner, "/developers/webhooks"), "expires": "0"},
    )
    cookie = owner.cookies.get("relink_endpoint_secret")
    assert rolled.status_code == 303 and cookie
    with member(server, platform, Role.admin) as admin:
        admin.cookies.set("relink_endpoint_secret", cookie)
        html = admin.get(f"/developers/webhooks/{endpoint.id}").text
    assert _SECRET.search(html) is None


# -- events ---------------------------------------------------------------------------------------


@pytest.mark.usefixtures("private_webhooks")
def test_markup_in_event_data_and_endpoint_descriptions_renders_as_text(
    owner: httpx.Client, client: stripe.StripeClient
) -> None:
    endpoint = _create_endpoint(client, "http://127.0.0.1:9/hook")
    create_test_account(client, customer=create_customer(client).id, display_name=SCRIPT)
    listing = owner.get("/developers/events?type=financial_connections.account.created").text
    event_id = re.search(r"/developers/events/(evt_\w+)", listing)
    assert event_id is not None
    for path in (
        f"/developers/events/{event_id.group(1)}",
        "/developers/webhooks",
        f"/developers/webhooks/{endpoint.id}",
    ):
        html = owner.get(path).text
        assert SCRIPT not in html, path
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html, path


def test_the_events_log_filters_by_type(owner: httpx.Client, client: stripe.StripeClient) -> None:
    account = create_test_account(client, customer=create_customer(client).id)
    deactivate(client, account.id, "access_expired")
    deactivated = owner.get("/developers/events?type=financial_connections.account.deactivated")
    created = owner.get("/developers/events?type=financial_connections.account.created")
    assert "financial_connections.account.deactivated</td>" in deactivated.text
    assert "financial_connections.account.created</td>" not in deactivated.text
    assert "financial_connections.account.created</td>" in created.text


def test_events_of_the_other_mode_are_not_listed(
    owner: httpx.Client, client: stripe.StripeClient
) -> None:
    create_test_account(client, customer=create_customer(client).id)
    token = page_csrf(owner)
    owner.post("/mode", data={"csrf_token": token, "livemode": "1", "next": "/developers"})
    assert "No events." in owner.get("/developers/events").text
