"""The holder's consent page (docs/consent.md): a signed, expiring link lists the holder's
connections; Revoke takes two screens, then disconnects, tells the platform and the bank."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import stripe

from relink.authorizations.consent_links import VALID_FOR
from relink.kit import clock
from relink.outbox.dispatcher import OutboxDispatcher
from relink.platforms.service import NewPlatform
from relink.runtime import Runtime
from relink.sandbox_bank.store import SANDBOX_CLIENT_NAME
from relink.sandbox_bank.testing import parse_forms
from relink.worker import HANDLERS
from tests.conftest import RunningServer
from tests.email.smtp_server import SmtpServer
from tests.factories import body_of, create_customer, create_test_account, drain_outbox, raw
from tests.hosted.connect_factories import CONSENT_LINK, holder_link, linked_at_oauth_bank
from tests.hosted.pages import text_of
from tests.receivers import webhook_receiver

DISCONNECTED = "financial_connections.account.disconnected"


def _form(page: httpx.Response, action_ends: str) -> tuple[str, dict[str, str]]:
    form = next(f for f in parse_forms(page.text) if f.action.endswith(action_ends))
    return form.action, form.fields


def _history(client: stripe.StripeClient, authorization_id: str) -> list[tuple[str, str]]:
    found = raw(client, "get", f"/v1/financial_connections/authorizations/{authorization_id}")
    return [(e["kind"], e["actor"]) for e in found.to_dict()["relink_consent_history"]]


def _status(client: stripe.StripeClient, account_id: str) -> str:
    return str(client.v1.financial_connections.accounts.retrieve(account_id).status)


def _revoke_in_two_screens(http: httpx.Client, server: RunningServer, url: str) -> None:
    action, fields = _form(http.get(url), "/revoke")
    asked = http.post(server.url + action, data=fields)
    assert asked.status_code == 303
    confirm_page = http.get(server.url + asked.headers["location"])
    assert "Revoke your consent?" in text_of(confirm_page)
    action, fields = _form(confirm_page, asked.headers["location"])
    done = http.post(server.url + action, data=fields)
    assert (done.status_code, done.headers["location"]) == (303, url.removeprefix(server.url))


@pytest.mark.usefixtures("private_webhooks")
def test_a_holder_revokes_and_the_bank_the_platform_and_the_history_know(
    client: stripe.StripeClient,
    http: httpx.Client,
    runtime: Runtime,
    server: RunningServer,
    platform: NewPlatform,
) -> None:
    with webhook_receiver() as receiver:
        endpoint = client.v1.webhook_endpoints.create(
            params={
                "url": receiver.url,
                "enabled_events": ["financial_connections.account.disconnected"],
            }
        )
        session, username = linked_at_oauth_bank(client, http, "Checking")
        [account] = session.accounts.data
        url = holder_link(runtime, platform, account.account_holder.customer)
        page = http.get(url)
        assert "Bank (OAuth)" in text_of(page) and "Active" in text_of(page)

        _revoke_in_two_screens(http, server, url)
        OutboxDispatcher(runtime, HANDLERS).drain()

        assert _status(client, account.id) == "disconnected"
        assert _history(client, account.authorization) == [
            ("granted", "holder"),
            ("revoked", "holder"),
        ]
        [delivery] = receiver.deliveries
        event = stripe.Webhook.construct_event(
            delivery.body, delivery.headers["stripe-signature"], endpoint.secret
        )
        assert (event.type, event.data.object.id) == (DISCONNECTED, account.id)
    assert "Revoked on" in text_of(http.get(url))
    with httpx.Client(base_url=server.url + "/sandbox-bank/") as bank:
        form = parse_forms(bank.get("security-center").text)[0]
        center = bank.post(
            form.action,
            data={**form.fields, "institution": "bank_oauth", "username": username},
            follow_redirects=True,
        )
    # The bank lists the app's grant as revoked, with nothing left to revoke.
    shown = text_of(center)
    assert f"{SANDBOX_CLIENT_NAME}" in shown and "Revoked" in shown
    assert "Revoke access" not in shown


def test_replaying_the_list_forms_revokes_nothing(
    client: stripe.StripeClient,
    http: httpx.Client,
    runtime: Runtime,
    server: RunningServer,
    platform: NewPlatform,
) -> None:
    customer = create_customer(client)
    account = create_test_account(client, customer=customer.id)
    url = holder_link(runtime, platform, customer.id)
    action, fields = _form(http.get(url), "/revoke")
    for _ in range(2):
        http.post(server.url + action, data=fields)
        http.post(server.url + action + "/" + account["authorization"], data=fields)
    assert _status(client, account.id) == "active"
    assert _history(client, account["authorization"]) == [("granted", "platform")]


def _tampered(url: str) -> str:
    head, _, mac = url.rpartition(".")
    return f"{head}.{'A' if mac[0] != 'A' else 'B'}{mac[1:]}"


@pytest.mark.parametrize("broken", ["tampered", "expired", "other_payload"])
def test_a_tampered_or_expired_link_opens_nothing_and_changes_nothing(
    client: stripe.StripeClient,
    http: httpx.Client,
    runtime: Runtime,
    server: RunningServer,
    platform: NewPlatform,
    broken: str,
) -> None:
    customer = create_customer(client)
    account = create_test_account(client, customer=customer.id)
    good = holder_link(runtime, platform, customer.id)
    action, fields = _form(http.get(good), "/revoke")
    asked = http.post(server.url + action, data=fields)
    confirm_action, confirm_fields = _form(
        http.get(server.url + asked.headers["location"]), asked.headers["location"]
    )
    if broken == "tampered":
        url = _tampered(good)
    elif broken == "expired":
        url = holder_link(runtime, platform, customer.id, now=clock.now() - VALID_FOR)
    else:
        other = create_customer(client)
        url = (
            holder_link(runtime, platform, other.id).rpartition(".")[0]
            + "."
            + good.rpartition(".")[2]
        )
    path = url.removeprefix(server.url)
    # An expired link Relink made can still ask for a new one (410); the others name no one.
    assert http.get(url).status_code == (410 if broken == "expired" else 404)
    refused = http.post(
        f"{server.url}{path}/revoke/{account['authorization']}", data=confirm_fields
    )
    assert refused.status_code == 303
    assert _status(client, account.id) == "active"
    assert _history(client, account["authorization"]) == [("granted", "platform")]
    assert confirm_action  # the good link's confirmation form existed


def test_a_holders_link_cannot_revoke_another_holders_connection(
    client: stripe.StripeClient,
    http: httpx.Client,
    runtime: Runtime,
    server: RunningServer,
    platform: NewPlatform,
) -> None:
    mine, theirs = create_customer(client), create_customer(client)
    create_test_account(client, customer=mine.id)
    their_account = create_test_account(client, customer=theirs.id)
    url = holder_link(runtime, platform, mine.id)
    path = url.removeprefix(server.url)
    _, fields = _form(http.get(url), "/revoke")
    authorization = their_account["authorization"]
    asked = http.post(f"{url}/revoke", data={**fields, "authorization": authorization})
    assert asked.headers["location"] == path
    assert http.get(f"{url}/revoke/{authorization}").headers["location"] == path
    assert _status(client, their_account.id) == "active"


def test_a_revoke_without_the_csrf_token_changes_nothing(
    client: stripe.StripeClient,
    http: httpx.Client,
    runtime: Runtime,
    server: RunningServer,
    platform: NewPlatform,
) -> None:
    customer = create_customer(client)
    account = create_test_account(client, customer=customer.id)
    url = holder_link(runtime, platform, customer.id)
    action, fields = _form(http.get(url), "/revoke")
    asked = http.post(server.url + action, data=fields)
    confirm_action, confirm_fields = _form(
        http.get(server.url + asked.headers["location"]), asked.headers["location"]
    )
    forged: dict[str, Any] = {**confirm_fields, "csrf_token": "forged"}
    assert http.post(server.url + confirm_action, data=forged).status_code == 303
    assert _status(client, account.id) == "active"


def test_an_expired_link_emails_one_new_link_to_the_address_on_file(
    client: stripe.StripeClient,
    http: httpx.Client,
    runtime: Runtime,
    server: RunningServer,
    platform: NewPlatform,
    smtp: SmtpServer,
    smtp_runtime: Runtime,
) -> None:
    owner = platform.owner.email
    customer = create_customer(client, email=owner)
    account = create_test_account(client, customer=customer.id)
    expired = holder_link(runtime, platform, customer.id, now=clock.now() - VALID_FOR)
    page = http.get(expired)
    assert "This link has expired" in text_of(page)
    action, fields = _form(page, "/new-link")
    for _ in range(2):  # pressed twice (or by a machine): one email
        asked = http.post(server.url + action, data=fields)
        assert asked.headers["location"] == expired.removeprefix(server.url) + "/new-link"
    assert "Check your email" in text_of(http.get(server.url + asked.headers["location"]))
    drain_outbox(smtp_runtime)

    [email] = smtp.handler.to(owner)
    assert email.message["Subject"] == "Your new link to your connections with Acme Lending"
    [fresh] = set(CONSENT_LINK.findall(body_of(email.message)))
    assert fresh != expired
    assert f"••••{account.last4}" in text_of(http.get(fresh))


def test_a_tampered_link_cannot_ask_for_a_new_one(
    client: stripe.StripeClient,
    http: httpx.Client,
    runtime: Runtime,
    server: RunningServer,
    platform: NewPlatform,
    smtp: SmtpServer,
    smtp_runtime: Runtime,
) -> None:
    owner = platform.owner.email
    customer = create_customer(client, email=owner)
    expired = holder_link(runtime, platform, customer.id, now=clock.now() - VALID_FOR)
    _, fields = _form(http.get(expired), "/new-link")
    asked = http.post(_tampered(expired) + "/new-link", data=fields)
    assert asked.status_code == 303
    assert http.get(_tampered(expired) + "/new-link").status_code == 404
    drain_outbox(smtp_runtime)
    assert smtp.handler.to(owner) == []
