from __future__ import annotations

import datetime as dt
import json
import ssl
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import stripe
import trustme
from sqlalchemy import select

from relink.kit import clock
from relink.models import MailboxMessage, OutboxMessage, WebhookAttempt
from relink.outbox.dispatcher import OutboxDispatcher
from relink.platforms.service import NewPlatform
from relink.runtime import Runtime
from relink.webhooks import tasks as webhook_tasks
from relink.webhooks.service import WEBHOOK_DELIVERY
from relink.worker import HANDLERS
from tests.email.factories import eligible_account, request_relink_email
from tests.factories import create_customer, create_test_account, deactivate
from tests.receivers import Delivery, FakeDns, Receiver, webhook_receiver

HOOKS_HOST = "hooks.relink.test"


def _attempts(runtime: Runtime, endpoint_id: str) -> list[WebhookAttempt]:
    with runtime.database.read_only() as session:
        return list(
            session.scalars(
                select(WebhookAttempt)
                .where(WebhookAttempt.endpoint_id == endpoint_id)
                .order_by(WebhookAttempt.attempted_at)
            )
        )


def _one_event(client: stripe.StripeClient, platform: NewPlatform) -> None:
    """An account.created event (with one delivery per endpoint subscribed to "*")."""
    create_test_account(client, customer=create_customer(client, email=platform.owner.email).id)


def _outbox_rows(runtime: Runtime, platform: NewPlatform) -> list[OutboxMessage]:
    with runtime.database.read_only() as session:
        return list(
            session.scalars(
                select(OutboxMessage).where(
                    OutboxMessage.platform_id == platform.platform.id,
                    OutboxMessage.kind == WEBHOOK_DELIVERY,
                )
            )
        )


@pytest.mark.usefixtures("private_webhooks")
def test_deactivation_is_delivered_signed_and_accepted_by_construct_event(
    client: stripe.StripeClient, runtime: Runtime, platform: NewPlatform
) -> None:
    with webhook_receiver() as receiver:
        endpoint = client.v1.webhook_endpoints.create(
            params={
                "url": receiver.url,
                "enabled_events": ["financial_connections.account.deactivated"],
            }
        )
        customer = create_customer(client, email=platform.owner.email)
        account = create_test_account(client, customer=customer.id)
        deactivate(client, account.id, "access_denied")
        OutboxDispatcher(runtime, HANDLERS).drain()

        assert len(receiver.deliveries) == 1
        delivery = receiver.deliveries[0]
        event = stripe.Webhook.construct_event(
            delivery.body, delivery.headers["stripe-signature"], endpoint.secret
        )
        assert event.type == "financial_connections.account.deactivated"
        assert event.data.object.id == account.id
        assert event.data.object.status_details.inactive.cause == "access_denied"


@pytest.mark.usefixtures("private_webhooks")
def test_endpoint_only_receives_its_enabled_event_types(
    client: stripe.StripeClient, runtime: Runtime, platform: NewPlatform
) -> None:
    with webhook_receiver() as receiver:
        client.v1.webhook_endpoints.create(
            params={
                "url": receiver.url,
                "enabled_events": ["financial_connections.account.disconnected"],
            }
        )
        customer = create_customer(client, email=platform.owner.email)
        account = create_test_account(client, customer=customer.id)
        deactivate(client, account.id, "access_denied")
        client.v1.financial_connections.accounts.disconnect(account.id)
        OutboxDispatcher(runtime, HANDLERS).drain()
        types = [json.loads(d.body)["type"] for d in receiver.deliveries]
        assert types == ["financial_connections.account.disconnected"]


@pytest.mark.usefixtures("private_webhooks")
def test_failed_delivery_is_retried_later_and_every_attempt_is_kept(
    client: stripe.StripeClient, runtime: Runtime, platform: NewPlatform
) -> None:
    with webhook_receiver() as receiver:
        receiver.answers = [500]
        client.v1.webhook_endpoints.create(params={"url": receiver.url, "enabled_events": ["*"]})
        customer = create_customer(client, email=platform.owner.email)
        create_test_account(client, customer=customer.id)
        OutboxDispatcher(runtime, HANDLERS).drain()

        [row] = _outbox_rows(runtime, platform)
        assert row.status == "pending"
        assert row.attempts == 1
        assert row.last_error == "HTTP 500"
        with runtime.database.read_only() as session:
            attempts = list(
                session.scalars(
                    select(WebhookAttempt).where(WebhookAttempt.event_id == row.payload["event_id"])
                )
            )
        assert [(a.status_code, a.succeeded) for a in attempts] == [(500, False)]


def _roll_secret(client: stripe.StripeClient, endpoint_id: str, **params: Any) -> Any:
    """``POST /v1/webhook_endpoints/{id}/roll_secret`` (a Relink extension the SDK has no
    method for) through the SDK's raw request."""
    response = client.raw_request(
        "post", f"/v1/webhook_endpoints/{endpoint_id}/roll_secret", **params
    )
    return client.deserialize(response, api_mode="V1")


def _verifies(delivery: Delivery, secret: str | None) -> bool:
    assert secret is not None, "an endpoint's answers carry its signing secret"
    try:
        stripe.Webhook.construct_event(delivery.body, delivery.headers["stripe-signature"], secret)
    except stripe.SignatureVerificationError:
        return False
    return True


@pytest.mark.usefixtures("private_webhooks")
def test_during_secret_rotation_both_secrets_sign_and_either_verifies(
    client: stripe.StripeClient, runtime: Runtime, platform: NewPlatform
) -> None:
    with webhook_receiver() as receiver:
        endpoint = client.v1.webhook_endpoints.create(
            params={"url": receiver.url, "enabled_events": ["*"]}
        )
        rolled = _roll_secret(client, endpoint.id, previous_secret_expires_in=3600)
        _one_event(client, platform)
        OutboxDispatcher(runtime, HANDLERS).drain()

    assert rolled.id == endpoint.id and rolled.object == "webhook_endpoint"
    assert rolled.secret.startswith("whsec_") and rolled.secret != endpoint.secret
    [delivery] = receiver.deliveries
    assert delivery.headers["stripe-signature"].count("v1=") == 2
    assert _verifies(delivery, endpoint.secret) and _verifies(delivery, rolled.secret)


@pytest.mark.usefixtures("private_webhooks")
def test_rolling_with_no_overlap_stops_the_old_secret_at_once(
    client: stripe.StripeClient, runtime: Runtime, platform: NewPlatform
) -> None:
    with webhook_receiver() as receiver:
        endpoint = client.v1.webhook_endpoints.create(
            params={"url": receiver.url, "enabled_events": ["*"]}
        )
        rolled = _roll_secret(client, endpoint.id, previous_secret_expires_in=0)
        _one_event(client, platform)
        OutboxDispatcher(runtime, HANDLERS).drain()
    [delivery] = receiver.deliveries
    assert delivery.headers["stripe-signature"].count("v1=") == 1
    assert _verifies(delivery, rolled.secret) and not _verifies(delivery, endpoint.secret)


@pytest.mark.usefixtures("private_webhooks")
def test_the_old_secret_stops_signing_when_the_overlap_ends(
    client: stripe.StripeClient, runtime: Runtime, platform: NewPlatform
) -> None:
    with webhook_receiver() as receiver:
        endpoint = client.v1.webhook_endpoints.create(
            params={"url": receiver.url, "enabled_events": ["*"]}
        )
        rolled = _roll_secret(client, endpoint.id, previous_secret_expires_in=60)
        later = clock.FrozenClock(clock.now() + dt.timedelta(seconds=61))
        clock.set_now(later)
        try:
            _one_event(client, platform)
            OutboxDispatcher(runtime, HANDLERS).drain()
        finally:
            clock.reset()
    [delivery] = receiver.deliveries
    assert delivery.headers["stripe-signature"].count("v1=") == 1
    assert _verifies(delivery, rolled.secret) and not _verifies(delivery, endpoint.secret)


@pytest.mark.usefixtures("private_webhooks")
def test_rolling_again_during_the_overlap_drops_the_oldest_secret(
    client: stripe.StripeClient, runtime: Runtime, platform: NewPlatform
) -> None:
    with webhook_receiver() as receiver:
        endpoint = client.v1.webhook_endpoints.create(
            params={"url": receiver.url, "enabled_events": ["*"]}
        )
        first = _roll_secret(client, endpoint.id)
        second = _roll_secret(client, endpoint.id)
        _one_event(client, platform)
        OutboxDispatcher(runtime, HANDLERS).drain()
    [delivery] = receiver.deliveries
    assert delivery.headers["stripe-signature"].count("v1=") == 2
    assert _verifies(delivery, second.secret) and _verifies(delivery, first.secret)
    assert not _verifies(delivery, endpoint.secret)


@pytest.mark.usefixtures("private_webhooks")
def test_an_endpoint_failing_for_three_days_is_disabled_and_the_owner_is_told(
    client: stripe.StripeClient, runtime: Runtime, platform: NewPlatform
) -> None:
    from relink.models import MailboxMessage, WebhookEndpoint

    with webhook_receiver() as receiver:
        receiver.answers = [500, 500]
        endpoint = client.v1.webhook_endpoints.create(
            params={"url": receiver.url, "enabled_events": ["*"]}
        )
        with runtime.database.unit_of_work() as session:
            row = session.get(WebhookEndpoint, endpoint.id)
            assert row is not None
            row.failing_since = clock.now() - dt.timedelta(days=3, minutes=1)
        customer = create_customer(client, email=platform.owner.email)
        create_test_account(client, customer=customer.id)
        OutboxDispatcher(runtime, HANDLERS).drain()

    assert client.v1.webhook_endpoints.retrieve(endpoint.id).status == "disabled"
    with runtime.database.read_only() as session:
        told = list(
            session.scalars(
                select(MailboxMessage).where(
                    MailboxMessage.platform_id == platform.platform.id,
                    MailboxMessage.to == platform.owner.email,
                )
            )
        )
    assert len(told) == 1
    assert endpoint.id in told[0].text


@pytest.mark.usefixtures("private_webhooks")
def test_a_stuck_endpoint_holds_up_only_its_own_deliveries_which_go_one_at_a_time_in_order(
    client: stripe.StripeClient,
    runtime: Runtime,
    platform: NewPlatform,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The stuck endpoint answers only when released: its request must still be the first,
    # unanswered one while everything else goes out (no client timeout meanwhile).
    monkeypatch.setattr(webhook_tasks, "TIMEOUT_SECONDS", 120.0)
    stuck_gate = threading.Event()
    to_email = eligible_account(client, platform)  # before the endpoints: no event for them
    with webhook_receiver(gate=stuck_gate) as stuck, webhook_receiver() as healthy:
        stuck_endpoint, _ = (
            client.v1.webhook_endpoints.create(
                params={
                    "url": receiver.url,
                    "enabled_events": ["financial_connections.account.deactivated"],
                }
            )
            for receiver in (stuck, healthy)
        )
        customer = create_customer(client, email=platform.owner.email)
        accounts = [create_test_account(client, customer=customer.id) for _ in range(3)]
        for account in accounts:
            deactivate(client, account.id, "access_denied")
        email_session = request_relink_email(client, to_email)

        # Small claims: the healthy endpoint's deliveries and the email come in later
        # claims than the stuck endpoint's first delivery.
        dispatcher = OutboxDispatcher(runtime, HANDLERS, batch_size=2)
        stop = threading.Event()

        def work() -> None:
            while not stop.is_set():
                if dispatcher.run_once() == 0:
                    stop.wait(0.02)

        worker = threading.Thread(target=work)
        worker.start()
        try:
            _wait_for(
                lambda: len(healthy.deliveries) == 3 and _mailbox_has(runtime, email_session.id)
            )
            # All of that while the stuck endpoint still holds its first delivery.
            assert stuck.deliveries == []
            assert _attempts(runtime, stuck_endpoint.id) == []
            stuck_gate.set()
            _wait_for(lambda: len(stuck.deliveries) == 3)
        finally:
            stuck_gate.set()
            stop.set()
            worker.join(30)
            dispatcher.close(30)

    def account_ids(receiver: Receiver) -> list[str]:
        return [json.loads(d.body)["data"]["object"]["id"] for d in receiver.deliveries]

    assert account_ids(healthy) == account_ids(stuck) == [a.id for a in accounts]
    assert stuck.most_in_flight == 1


def _mailbox_has(runtime: Runtime, session_id: str) -> bool:
    with runtime.database.read_only() as db:
        found = db.scalar(select(MailboxMessage.id).where(MailboxMessage.session_id == session_id))
    return found is not None


def _wait_for(condition: Callable[[], bool], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.02)


def test_a_host_that_resolves_to_a_private_address_at_delivery_is_not_called(
    client: stripe.StripeClient, runtime: Runtime, platform: NewPlatform, fake_dns: FakeDns
) -> None:
    with webhook_receiver(url_host=HOOKS_HOST) as receiver:
        # Public when the endpoint is saved, this machine's loopback when it is called.
        fake_dns.answers[HOOKS_HOST] = [["93.184.216.34"], ["127.0.0.1"]]
        endpoint = client.v1.webhook_endpoints.create(
            params={"url": receiver.url, "enabled_events": ["*"]}
        )
        _one_event(client, platform)
        OutboxDispatcher(runtime, HANDLERS).drain()
        assert receiver.deliveries == []
    [attempt] = _attempts(runtime, endpoint.id)
    assert attempt.status_code is None and not attempt.succeeded
    assert attempt.error is not None and "private or reserved address (127.0.0.1)" in attempt.error
    [row] = _outbox_rows(runtime, platform)
    assert row.status == "pending" and row.attempts == 1
    client.v1.webhook_endpoints.delete(endpoint.id)  # no retry for later tests to meet


@pytest.mark.usefixtures("private_webhooks")
def test_a_delivery_goes_to_the_address_that_was_checked_not_to_a_second_dns_answer(
    client: stripe.StripeClient, runtime: Runtime, platform: NewPlatform, fake_dns: FakeDns
) -> None:
    with (
        webhook_receiver(url_host=HOOKS_HOST) as checked,
        webhook_receiver(host="127.0.0.2", port=checked.port) as elsewhere,
    ):
        # The first answer is the one checked; a rebinding DNS then answers otherwise.
        fake_dns.answers[HOOKS_HOST] = [["127.0.0.1"], ["127.0.0.2"]]
        endpoint = client.v1.webhook_endpoints.create(
            params={"url": checked.url, "enabled_events": ["*"]}
        )
        fake_dns.lookups.clear()
        _one_event(client, platform)
        OutboxDispatcher(runtime, HANDLERS).drain()
        assert elsewhere.deliveries == []
    [delivery] = checked.deliveries
    assert delivery.headers["host"] == f"{HOOKS_HOST}:{checked.port}"
    assert (
        stripe.Webhook.construct_event(
            delivery.body, delivery.headers["stripe-signature"], endpoint.secret
        ).type
        == "financial_connections.account.created"
    )
    assert fake_dns.lookups[HOOKS_HOST] == 1


def _tls_server(ca: trustme.CA, name: str) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(name).configure_cert(context)
    return context


@pytest.mark.usefixtures("private_webhooks")
def test_an_https_delivery_to_the_checked_address_keeps_the_host_for_sni_and_the_certificate(
    client: stripe.StripeClient,
    runtime: Runtime,
    platform: NewPlatform,
    fake_dns: FakeDns,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    ca = trustme.CA()
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    # The operator's way to trust an internal CA; httpx reads it for every client.
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "ca.pem"))
    fake_dns.answers[HOOKS_HOST] = [["127.0.0.1"]]
    with webhook_receiver(tls=_tls_server(ca, HOOKS_HOST), url_host=HOOKS_HOST) as receiver:
        endpoint = client.v1.webhook_endpoints.create(
            params={"url": receiver.url, "enabled_events": ["*"]}
        )
        _one_event(client, platform)
        OutboxDispatcher(runtime, HANDLERS).drain()
    [delivery] = receiver.deliveries
    assert receiver.url.startswith("https://")
    assert receiver.server_names == [HOOKS_HOST]
    assert delivery.headers["host"] == f"{HOOKS_HOST}:{receiver.port}"
    [attempt] = _attempts(runtime, endpoint.id)
    assert attempt.succeeded and attempt.status_code == 200


@pytest.mark.usefixtures("private_webhooks")
def test_an_https_receiver_whose_certificate_names_another_host_is_refused(
    client: stripe.StripeClient,
    runtime: Runtime,
    platform: NewPlatform,
    fake_dns: FakeDns,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    ca = trustme.CA()
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "ca.pem"))
    fake_dns.answers[HOOKS_HOST] = [["127.0.0.1"]]
    server = _tls_server(ca, "other.relink.test")
    with webhook_receiver(tls=server, url_host=HOOKS_HOST) as receiver:
        endpoint = client.v1.webhook_endpoints.create(
            params={"url": receiver.url, "enabled_events": ["*"]}
        )
        _one_event(client, platform)
        OutboxDispatcher(runtime, HANDLERS).drain()
    assert receiver.deliveries == []
    [attempt] = _attempts(runtime, endpoint.id)
    assert not attempt.succeeded
    assert attempt.error is not None and "certificate" in attempt.error.lower()
    client.v1.webhook_endpoints.delete(endpoint.id)  # no retry for later tests to meet


@pytest.mark.usefixtures("private_webhooks")
def test_the_attempt_log_keeps_a_short_excerpt_of_the_answer_without_control_characters(
    client: stripe.StripeClient, runtime: Runtime, platform: NewPlatform
) -> None:
    with webhook_receiver() as receiver:
        receiver.answers = [500]
        receiver.bodies = [b"\x1b[31msecret\x00 internal\r\n\tanswer\xe2\x80\xae " + b"x" * 100_000]
        endpoint = client.v1.webhook_endpoints.create(
            params={"url": receiver.url, "enabled_events": ["*"]}
        )
        _one_event(client, platform)
        OutboxDispatcher(runtime, HANDLERS).drain()
    client.v1.webhook_endpoints.delete(endpoint.id)  # no retry for later tests to meet
    [attempt] = _attempts(runtime, endpoint.id)
    assert attempt.status_code == 500
    excerpt = attempt.response_excerpt
    assert excerpt is not None and len(excerpt) == 200
    assert excerpt.startswith("[31msecret internal answer x")
    assert all(char.isprintable() for char in excerpt)
