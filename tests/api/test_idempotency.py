"""Idempotency-Key on POST: replay, mismatch, in-flight, and what is stored."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
import stripe
from sqlalchemy import func, select

from relink.models import Customer, IdempotencyRecord
from relink.platforms.service import NewPlatform
from tests.conftest import RunningServer, make_platform, stripe_client


def post_customer(
    server: RunningServer, key: str, idempotency_key: str, **params: str
) -> httpx.Response:
    return httpx.post(
        f"{server.url}/v1/customers",
        data=params,
        headers={"Authorization": f"Bearer {key}", "Idempotency-Key": idempotency_key},
        timeout=30,
    )


def count_customers(server: RunningServer, platform_id: str) -> int:
    with server.runtime.database.read_only() as session:
        return int(
            session.scalar(
                select(func.count())
                .select_from(Customer)
                .where(Customer.platform_id == platform_id)
            )
            or 0
        )


def test_same_key_and_params_replay_the_first_response(
    server: RunningServer, platform: NewPlatform
) -> None:
    key = str(uuid.uuid4())
    first = post_customer(server, platform.test_secret_key, key, email="a@example.com")
    second = post_customer(server, platform.test_secret_key, key, email="a@example.com")
    assert first.status_code == second.status_code == 200
    assert "Idempotent-Replayed" not in first.headers
    assert second.headers["Idempotent-Replayed"] == "true"
    assert second.json() == first.json()
    assert count_customers(server, platform.platform.id) == 1


def test_replay_through_the_sdk_returns_the_same_object(client: stripe.StripeClient) -> None:
    options: stripe.RequestOptions = {"idempotency_key": str(uuid.uuid4())}
    first = client.v1.customers.create(params={"name": "Ada"}, options=options)
    second = client.v1.customers.create(params={"name": "Ada"}, options=options)
    assert second.id == first.id
    assert [c.id for c in client.v1.customers.list().data] == [first.id]


def test_same_key_with_different_params_raises_idempotency_error(
    client: stripe.StripeClient,
) -> None:
    options: stripe.RequestOptions = {"idempotency_key": str(uuid.uuid4())}
    first = client.v1.customers.create(params={"name": "Ada"}, options=options)
    with pytest.raises(stripe.IdempotencyError) as raised:
        client.v1.customers.create(params={"name": "Grace"}, options=options)
    assert raised.value.http_status == 400
    assert raised.value.error is not None
    assert raised.value.error.type == "idempotency_error"
    assert [c.id for c in client.v1.customers.list().data] == [first.id]


def test_same_key_on_another_path_raises_idempotency_error(
    server: RunningServer, platform: NewPlatform
) -> None:
    key = str(uuid.uuid4())
    created = post_customer(server, platform.test_secret_key, key, name="Ada")
    response = httpx.post(
        f"{server.url}/v1/customers/{created.json()['id']}",
        data={"name": "Ada"},
        headers={"Authorization": f"Bearer {platform.test_secret_key}", "Idempotency-Key": key},
    )
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "idempotency_error"


def test_parallel_requests_with_one_key_create_exactly_one_object(
    server: RunningServer, platform: NewPlatform
) -> None:
    key = str(uuid.uuid4())
    with ThreadPoolExecutor(max_workers=8) as pool:
        responses = list(
            pool.map(
                lambda _: post_customer(server, platform.test_secret_key, key, name="Racer"),
                range(16),
            )
        )
    assert {r.status_code for r in responses} <= {200, 409}
    succeeded = [r for r in responses if r.status_code == 200]
    assert len({r.json()["id"] for r in succeeded}) == 1
    assert len([r for r in succeeded if "Idempotent-Replayed" not in r.headers]) == 1
    for conflict in (r for r in responses if r.status_code == 409):
        assert conflict.json()["error"]["code"] == "idempotency_key_in_use"
    assert count_customers(server, platform.platform.id) == 1


def test_a_request_that_failed_validation_stores_nothing(
    server: RunningServer, platform: NewPlatform
) -> None:
    key = str(uuid.uuid4())
    failed = post_customer(server, platform.test_secret_key, key, email="not-an-email")
    assert failed.status_code == 400
    with server.runtime.database.read_only() as session:
        stored = session.scalars(
            select(IdempotencyRecord).where(IdempotencyRecord.platform_id == platform.platform.id)
        ).all()
    assert stored == []


def test_retry_with_other_params_after_a_validation_failure_runs_anew(
    server: RunningServer, platform: NewPlatform
) -> None:
    key = str(uuid.uuid4())
    failed = post_customer(server, platform.test_secret_key, key, email="not-an-email")
    assert failed.status_code == 400
    retried = post_customer(server, platform.test_secret_key, key, email="ok@example.com")
    assert retried.status_code == 200, retried.text
    assert "Idempotent-Replayed" not in retried.headers
    assert retried.json()["email"] == "ok@example.com"


def test_retry_with_the_same_params_after_a_validation_failure_is_not_a_replay(
    server: RunningServer, platform: NewPlatform
) -> None:
    key = str(uuid.uuid4())
    post_customer(server, platform.test_secret_key, key, email="not-an-email")
    retried = post_customer(server, platform.test_secret_key, key, email="not-an-email")
    assert retried.status_code == 400
    assert retried.json()["error"]["param"] == "email"
    assert "Idempotent-Replayed" not in retried.headers


def test_key_longer_than_255_characters_gets_400(
    server: RunningServer, platform: NewPlatform
) -> None:
    response = post_customer(server, platform.test_secret_key, "k" * 256, name="Ada")
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "Idempotency-Key"
    assert count_customers(server, platform.platform.id) == 0


def test_key_of_255_characters_is_accepted(server: RunningServer, platform: NewPlatform) -> None:
    response = post_customer(server, platform.test_secret_key, "k" * 255, name="Ada")
    assert response.status_code == 200


def test_keys_are_per_platform(server: RunningServer, platform: NewPlatform) -> None:
    with server.runtime.database.unit_of_work() as session:
        other = make_platform(session, name="Other Lending")
    key = str(uuid.uuid4())
    mine = post_customer(server, platform.test_secret_key, key, name="Ada")
    theirs = post_customer(server, other.test_secret_key, key, name="Ada")
    assert mine.status_code == theirs.status_code == 200
    assert "Idempotent-Replayed" not in theirs.headers
    assert mine.json()["id"] != theirs.json()["id"]
    assert stripe_client(server, other.test_secret_key).v1.customers.retrieve(theirs.json()["id"])


def test_keys_are_per_mode(server: RunningServer, platform: NewPlatform) -> None:
    key = str(uuid.uuid4())
    test = post_customer(server, platform.test_secret_key, key, name="Ada")
    live = post_customer(server, platform.live_secret_key, key, name="Ada")
    assert test.json()["livemode"] is False
    assert live.json()["livemode"] is True
    assert "Idempotent-Replayed" not in live.headers
    assert count_customers(server, platform.platform.id) == 2


def test_idempotency_key_is_ignored_on_get(server: RunningServer, platform: NewPlatform) -> None:
    headers = {"Authorization": f"Bearer {platform.test_secret_key}", "Idempotency-Key": "x" * 300}
    response = httpx.get(f"{server.url}/v1/customers", headers=headers)
    assert response.status_code == 200
    assert "Idempotent-Replayed" not in response.headers


def test_a_stored_answer_keeps_no_secret_in_the_clear_and_still_replays(
    client: stripe.StripeClient, server: RunningServer, platform: NewPlatform
) -> None:
    # A webhook endpoint's answer carries its signing secret; the record keeps it for 24 h.
    options: stripe.RequestOptions = {"idempotency_key": str(uuid.uuid4())}
    params: stripe.params.WebhookEndpointCreateParams = {
        "url": "https://hooks.example.com/relink",
        "enabled_events": ["*"],
    }
    first = client.v1.webhook_endpoints.create(params=params, options=options)
    replayed = client.v1.webhook_endpoints.create(params=params, options=options)
    assert first.secret and first.secret.startswith("whsec_")
    assert replayed.secret == first.secret and replayed.id == first.id
    with server.runtime.database.read_only() as session:
        stored = session.scalar(
            select(IdempotencyRecord.response_body).where(
                IdempotencyRecord.platform_id == platform.platform.id,
                IdempotencyRecord.key == options["idempotency_key"],
            )
        )
    assert stored is not None
    assert first.secret not in stored and first.id not in stored
