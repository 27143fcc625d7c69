"""GET/POST /v1/relink_policy: the key's platform and mode's automatic relink policy."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import stripe

from relink.models.automation import (
    DEFAULT_DELAY_SECONDS,
    DEFAULT_EXPIRY_REMINDER_DAYS,
    DEFAULT_MAX_EMAILS_PER_ACCOUNT,
    DEFAULT_REMINDER_DAYS,
)
from relink.platforms.service import NewPlatform
from relink.runtime import Runtime
from tests.conftest import RunningServer, make_platform, stripe_client
from tests.factories import error_of, raw

PATH = "/v1/relink_policy"


def _policy(client: stripe.StripeClient) -> dict[str, Any]:
    return raw(client, "get", PATH).to_dict()


def _set(client: stripe.StripeClient, **params: Any) -> dict[str, Any]:
    return raw(client, "post", PATH, **params).to_dict()


def _refused(client: stripe.StripeClient, **params: Any) -> dict[str, Any]:
    with pytest.raises(stripe.InvalidRequestError) as raised:
        raw(client, "post", PATH, **params)
    assert raised.value.http_status == 400
    return error_of(raised.value)


def test_policy_is_off_with_the_defaults_until_changed(client: stripe.StripeClient) -> None:
    policy = _policy(client)
    assert policy == {
        "object": "relink_policy",
        "livemode": False,
        "enabled": False,
        "delay_seconds": DEFAULT_DELAY_SECONDS,
        "reminder_days": list(DEFAULT_REMINDER_DAYS),
        "expiry_reminder_days": list(DEFAULT_EXPIRY_REMINDER_DAYS),
        "max_emails_per_account": DEFAULT_MAX_EMAILS_PER_ACCOUNT,
        "updated": None,
    }


def test_post_changes_the_given_fields_and_keeps_the_others(client: stripe.StripeClient) -> None:
    changed = _set(client, enabled="true", delay_seconds=600, reminder_days=[5, 2])
    assert changed["enabled"] is True
    assert changed["delay_seconds"] == 600
    assert changed["reminder_days"] == [2, 5]
    assert changed["expiry_reminder_days"] == list(DEFAULT_EXPIRY_REMINDER_DAYS)
    assert isinstance(changed["updated"], int)
    again = _set(client, max_emails_per_account=3, expiry_reminder_days=[1, 10])
    assert again["delay_seconds"] == 600
    assert again["max_emails_per_account"] == 3
    assert again["expiry_reminder_days"] == [10, 1]
    assert _policy(client) == again


def test_an_empty_list_turns_those_reminders_off(client: stripe.StripeClient) -> None:
    changed = _set(client, reminder_days="", expiry_reminder_days="")
    assert changed["reminder_days"] == []
    assert changed["expiry_reminder_days"] == []


@pytest.mark.parametrize(
    ("params", "param", "code"),
    [
        ({"delay_seconds": -1}, "delay_seconds", "parameter_invalid_integer"),
        ({"delay_seconds": 31 * 86400}, "delay_seconds", "parameter_invalid_integer"),
        ({"delay_seconds": "soon"}, "delay_seconds", "parameter_invalid_integer"),
        ({"reminder_days": [3, 0]}, "reminder_days[1]", "parameter_invalid_integer"),
        ({"reminder_days": [31]}, "reminder_days[0]", "parameter_invalid_integer"),
        ({"reminder_days": [3, 3]}, "reminder_days", "parameter_invalid_array"),
        ({"reminder_days": [1, 2, 3, 4, 5, 6]}, "reminder_days", "parameter_invalid_array"),
        ({"expiry_reminder_days": ["x"]}, "expiry_reminder_days[0]", "parameter_invalid_integer"),
        ({"max_emails_per_account": 0}, "max_emails_per_account", "parameter_invalid_integer"),
        ({"max_emails_per_account": 21}, "max_emails_per_account", "parameter_invalid_integer"),
        ({"enabled": "yes"}, "enabled", "parameter_invalid_boolean"),
        ({"reminder_every": 3}, "reminder_every", "parameter_unknown"),
    ],
)
def test_a_bad_value_is_a_400_naming_the_parameter_and_changes_nothing(
    client: stripe.StripeClient, params: dict[str, Any], param: str, code: str
) -> None:
    before = _set(client, enabled="true", delay_seconds=60)
    # A good value beside the bad one: it is not applied either.
    good = {"max_emails_per_account": 2} if "delay_seconds" in params else {"delay_seconds": 120}
    error = _refused(client, **good, **params)
    assert error["param"] == param
    assert error["code"] == code
    assert error["type"] == "invalid_request_error"
    assert error["message"]
    assert _policy(client) == before


def test_test_and_live_mode_have_separate_policies(
    client: stripe.StripeClient, live_client: stripe.StripeClient
) -> None:
    _set(client, enabled="true", delay_seconds=60)
    live = _policy(live_client)
    assert live["livemode"] is True
    assert live["enabled"] is False
    assert live["delay_seconds"] == DEFAULT_DELAY_SECONDS
    _set(live_client, delay_seconds=7200)
    assert _policy(client)["delay_seconds"] == 60


def test_a_key_reads_and_changes_only_its_own_platforms_policy(
    client: stripe.StripeClient, server: RunningServer, runtime: Runtime, platform: NewPlatform
) -> None:
    with runtime.database.unit_of_work() as session:
        other = make_platform(session, name="Other Lending")
    other_client = stripe_client(server, other.test_secret_key)
    _set(other_client, enabled="true", delay_seconds=30)
    assert _policy(client)["enabled"] is False
    _set(client, delay_seconds=90)
    assert _policy(other_client)["delay_seconds"] == 30
    assert _policy(other_client)["enabled"] is True


def test_the_policy_needs_a_key(server: RunningServer) -> None:
    answer = httpx.get(server.url + PATH)
    assert answer.status_code == 401


def test_openapi_documents_the_policy_parameters(server: RunningServer) -> None:
    document = httpx.get(server.url + "/v1/openapi.json").json()
    post = document["paths"][PATH]["post"]
    schema = post["requestBody"]["content"]["application/json"]["schema"]
    assert set(schema["properties"]) >= {
        "enabled",
        "delay_seconds",
        "reminder_days",
        "expiry_reminder_days",
        "max_emails_per_account",
    }
    assert schema["properties"]["reminder_days"]["items"] == {
        "type": "integer",
        "minimum": 1,
        "maximum": 30,
    }
    assert "get" in document["paths"][PATH]
