"""stripe-node, Stripe's official Node SDK, against a running Relink: the developer story
(auto-pagination, error classes, an idempotent retry, a delivered webhook verified with
``constructEvent``). `make test` installs Node.js and the locked stripe package
(``npm ci`` in tests/node); without them this test fails rather than skips."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from relink.outbox.dispatcher import OutboxDispatcher
from relink.platforms.service import NewPlatform
from relink.runtime import Runtime
from relink.worker import HANDLERS
from tests.conftest import RunningServer
from tests.receivers import webhook_receiver

HERE = Path(__file__).resolve().parent
SCRIPT = HERE / "developer_story.js"


def _node() -> str:
    node = shutil.which("node")
    if node is None:
        pytest.fail(
            "Node.js is not installed: `make test` installs it (apt-get install nodejs npm)"
        )
    version = subprocess.run(
        [node, "--version"], capture_output=True, text=True, check=True
    ).stdout.strip()
    if int(version.lstrip("v").split(".")[0]) < 20:
        pytest.fail(f"stripe-node needs Node.js 20 or newer; {node} is {version}")
    pinned = json.loads((HERE / "package.json").read_text())["dependencies"]["stripe"]
    installed = HERE / "node_modules" / "stripe" / "package.json"
    if not installed.exists():
        pytest.fail("stripe-node is not installed: run `npm ci` in tests/node (`make test` does)")
    stripe_version = json.loads(installed.read_text())["version"]
    if stripe_version != pinned:
        pytest.fail(f"tests/node has stripe {stripe_version}, the lock pins {pinned}: run `npm ci`")
    return node


def _run(phase: str, **env: str) -> dict[str, Any]:
    done = subprocess.run(
        [_node(), str(SCRIPT), phase],
        cwd=HERE,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, f"stripe-node {phase} failed:\n{done.stderr}"
    facts: dict[str, Any] = json.loads(done.stdout)
    return facts


@pytest.mark.usefixtures("private_webhooks")
def test_stripe_node_pages_errs_retries_and_verifies_webhooks_as_against_stripe(
    server: RunningServer, platform: NewPlatform, runtime: Runtime
) -> None:
    with webhook_receiver() as receiver:
        connection = {"RELINK_URL": server.url, "RELINK_KEY": platform.test_secret_key}
        story = _run("api", WEBHOOK_URL=receiver.url, **connection)

        # Auto-pagination walks every page, newest first, without repeats.
        assert len(story["created"]) == 12
        assert story["listed"] == list(reversed(story["created"]))
        assert story["asArray"] == story["listed"]

        errors = story["errors"]
        assert errors["missing"] == {
            "class": "StripeInvalidRequestError",
            "type": "StripeInvalidRequestError",
            "code": "resource_missing",
            "param": "id",
            "statusCode": 404,
            "isStripeError": True,
        }
        assert (errors["parameterMissing"]["class"], errors["parameterMissing"]["code"]) == (
            "StripeInvalidRequestError",
            "parameter_missing",
        )
        assert errors["parameterMissing"]["param"] == "permissions"
        # Date.now() is in milliseconds: a 400 naming the bound, never a 500 to retry.
        assert (errors["milliseconds"]["statusCode"], errors["milliseconds"]["param"]) == (
            400,
            "created[gte]",
        )
        assert (errors["authentication"]["class"], errors["authentication"]["statusCode"]) == (
            "StripeAuthenticationError",
            401,
        )
        assert errors["idempotencyReused"]["class"] == "StripeIdempotencyError"

        idempotency = story["idempotency"]
        assert idempotency["retried"] == idempotency["first"]
        assert idempotency["replayed"] == "true"
        assert idempotency["customersWithThatEmail"] == 1

        OutboxDispatcher(runtime, HANDLERS).drain()
        delivery = receiver.deliveries[0]
        verified = _run(
            "webhook",
            WEBHOOK_SECRET=story["endpoint"]["secret"],
            WEBHOOK_PAYLOAD=delivery.body,
            WEBHOOK_SIGNATURE=delivery.headers["stripe-signature"],
            **connection,
        )
    assert verified["event"]["type"] == "financial_connections.account.created"
    assert verified["event"]["object"] in story["created"]
    assert verified["tamperedChanged"]
    assert verified["tampered"] == {
        "class": "StripeSignatureVerificationError",
        "type": "StripeSignatureVerificationError",
    }
