"""The /v1 pipeline through HTTP: auth, decoding, errors, headers and lists."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx
import pytest
import stripe
from sqlalchemy import select, update

from relink.customers.repository import CustomerRepository
from relink.customers.service import CustomerChanges, create_customer
from relink.kit import clock
from relink.kit.api_versions import LATEST_API_VERSION
from relink.kit.clock import FrozenClock
from relink.kit.crypto import token_digest
from relink.models import ApiKey, Platform
from relink.platforms.service import NewPlatform
from relink.runtime import Runtime
from relink.tenancy import Scope
from tests.conftest import RunningServer, stripe_client
from tests.factories import create_customer as create_customer_via_api
from tests.factories import raw, unchecked


def http(server: RunningServer, key: str | None) -> httpx.Client:
    headers = {"Authorization": f"Bearer {key}"} if key is not None else {}
    return httpx.Client(base_url=server.url, headers=headers, timeout=30)


def insert_customers(runtime: Runtime, platform: NewPlatform, count: int) -> list[str]:
    """Create customers straight through the service (fast); ids newest first."""
    scope = Scope(platform.platform.id, livemode=False)
    with runtime.database.unit_of_work() as session:
        customers = CustomerRepository(session, scope)
        made = [
            create_customer(customers, CustomerChanges(email=f"c{index}@example.com")).id
            for index in range(count)
        ]
    return list(reversed(made))


def assert_error(
    response: httpx.Response,
    status: int,
    *,
    code: str | None = None,
    param: str | None = None,
    error_type: str = "invalid_request_error",
) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    assert error["type"] == error_type
    assert error["message"]
    assert error.get("code") == code
    assert error.get("param") == param
    return error


# --- authentication -------------------------------------------------------------


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer sk_test_doesnotexist0000000000", "Bearer pk_test_123", "Token abc", "Basic !!!"],
)
def test_missing_or_invalid_key_gets_401_in_the_stripe_envelope(
    server: RunningServer, authorization: str | None
) -> None:
    headers = {"Authorization": authorization} if authorization is not None else {}
    response = httpx.get(f"{server.url}/v1/customers", headers=headers)
    assert_error(response, 401)


def test_invalid_key_is_redacted_in_the_message(server: RunningServer) -> None:
    key = "sk_test_notarealkey_0123456789abcdef"
    with http(server, key) as api:
        error = assert_error(api.get("/v1/customers"), 401)
    assert key not in error["message"]
    assert error["message"].endswith("cdef")


def test_revoked_key_gets_401(server: RunningServer, platform: NewPlatform) -> None:
    with server.runtime.database.unit_of_work() as session:
        session.execute(
            update(ApiKey)
            .where(ApiKey.digest == token_digest(platform.test_secret_key))
            .values(revoked_at=clock.now())
        )
    with pytest.raises(stripe.AuthenticationError) as raised:
        stripe_client(server, platform.test_secret_key).v1.customers.list()
    assert raised.value.http_status == 401


def test_basic_auth_with_the_key_as_user_is_accepted(
    server: RunningServer, platform: NewPlatform
) -> None:
    response = httpx.get(f"{server.url}/v1/customers", auth=(platform.test_secret_key, ""))
    assert response.status_code == 200
    assert response.json()["object"] == "list"


def test_live_key_acts_in_livemode(live_client: stripe.StripeClient) -> None:
    customer = create_customer_via_api(live_client, email="live@example.com")
    assert customer.livemode is True


# --- decoding -------------------------------------------------------------------------


def test_json_bodies_are_accepted(server: RunningServer, platform: NewPlatform) -> None:
    with http(server, platform.test_secret_key) as api:
        response = api.post(
            "/v1/customers",
            json={"email": "json@example.com", "metadata": {"source": "json"}},
        )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["email"] == "json@example.com"
    assert body["metadata"] == {"source": "json"}


def test_json_body_that_is_not_an_object_gets_400(
    server: RunningServer, platform: NewPlatform
) -> None:
    with http(server, platform.test_secret_key) as api:
        response = api.post("/v1/customers", json=["email"])
    assert_error(response, 400)


def test_form_body_with_bracket_nesting_is_decoded(
    server: RunningServer, platform: NewPlatform
) -> None:
    with http(server, platform.test_secret_key) as api:
        response = api.post(
            "/v1/customers",
            content="email=form%40example.com&metadata[a]=1&preferred_locales[]=de",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
    assert response.status_code == 200, response.text
    assert response.json()["metadata"] == {"a": "1"}
    assert response.json()["preferred_locales"] == ["de"]


def test_malformed_form_gets_400_naming_the_key(
    server: RunningServer, platform: NewPlatform
) -> None:
    with http(server, platform.test_secret_key) as api:
        response = api.post(
            "/v1/customers",
            content="metadata=1&metadata[a]=2",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
    assert_error(response, 400, param="metadata[a]")


def test_malformed_query_gets_400_naming_the_key(
    server: RunningServer, platform: NewPlatform
) -> None:
    with http(server, platform.test_secret_key) as api:
        response = api.get("/v1/customers?expand[]=a&expand[0]=b")
    assert_error(response, 400, param="expand[0]")


def test_body_that_is_not_utf8_gets_400(server: RunningServer, platform: NewPlatform) -> None:
    with http(server, platform.test_secret_key) as api:
        response = api.post(
            "/v1/customers",
            content=b"name=\xff\xfe",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
    assert_error(response, 400)


def _no_customers(api: httpx.Client) -> bool:
    listed: list[object] = api.get("/v1/customers").json()["data"]
    return listed == []


@pytest.mark.parametrize("depth", [5_000, 100_000])
def test_json_nested_too_deeply_gets_400_and_changes_nothing(
    server: RunningServer, platform: NewPlatform, depth: int
) -> None:
    nested = '{"email": "deep@example.com", "metadata": ' + "[" * depth + "]" * depth + "}"
    with http(server, platform.test_secret_key) as api:
        response = api.post(
            "/v1/customers", content=nested, headers={"Content-Type": "application/json"}
        )
        assert "nested" in assert_error(response, 400, param=None)["message"]
        assert _no_customers(api)


def test_json_nested_past_the_form_depth_gets_400_naming_the_parameter(
    server: RunningServer, platform: NewPlatform
) -> None:
    nested = '{"metadata": ' + "[" * 8 + "]" * 8 + "}"
    with http(server, platform.test_secret_key) as api:
        response = api.post(
            "/v1/customers", content=nested, headers={"Content-Type": "application/json"}
        )
    assert_error(response, 400, param="metadata")


def test_json_number_of_5000_digits_gets_400_and_changes_nothing(
    server: RunningServer, platform: NewPlatform
) -> None:
    body = '{"email": "digits@example.com", "balance": ' + "9" * 5_000 + "}"
    with http(server, platform.test_secret_key) as api:
        response = api.post(
            "/v1/customers", content=body, headers={"Content-Type": "application/json"}
        )
        assert "digits" in assert_error(response, 400)["message"]
        assert _no_customers(api)


@pytest.mark.parametrize(
    "path",
    [
        "/v1/financial_connections/accounts/%00",
        "/v1/customers/cus_%00",
        "/v1/financial_connections/accounts/fca_1%00/relink_eligibility",
    ],
)
def test_an_id_with_a_nul_character_gets_400_naming_the_id(
    server: RunningServer, platform: NewPlatform, path: str
) -> None:
    # PostgreSQL refuses NUL in text: the id must never reach a query.
    with http(server, platform.test_secret_key) as api:
        response = api.get(path)
    assert_error(response, 400, param="id")


def test_unknown_parameter_raises_parameter_unknown_naming_it(
    client: stripe.StripeClient,
) -> None:
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.customers.create(params=unchecked({"email": "a@example.com", "colour": "red"}))
    assert raised.value.http_status == 400
    assert raised.value.code == "parameter_unknown"
    assert raised.value.param == "colour"
    assert client.v1.customers.list().data == []


def test_unknown_nested_parameter_is_named_with_its_brackets(
    client: stripe.StripeClient,
) -> None:
    customer = create_customer_via_api(client, email="holder@example.com")
    with pytest.raises(stripe.InvalidRequestError) as raised:
        raw(
            client,
            "post",
            "/v1/test_helpers/financial_connections/accounts",
            institution="fcinst_bank_non_oauth",
            account_holder={"type": "customer", "customer": customer.id, "colour": "red"},
        )
    assert raised.value.code == "parameter_unknown"
    assert raised.value.param == "account_holder[colour]"


def test_missing_required_parameter_raises_parameter_missing_naming_it(
    client: stripe.StripeClient,
) -> None:
    with pytest.raises(stripe.InvalidRequestError) as raised:
        raw(
            client,
            "post",
            "/v1/test_helpers/financial_connections/accounts",
            account_holder={"type": "customer", "customer": "cus_x"},
        )
    assert raised.value.http_status == 400
    assert raised.value.code == "parameter_missing"
    assert raised.value.param == "institution"


def test_bad_enum_value_raises_parameter_invalid_naming_the_nested_param(
    client: stripe.StripeClient,
) -> None:
    with pytest.raises(stripe.InvalidRequestError) as raised:
        raw(
            client,
            "post",
            "/v1/test_helpers/financial_connections/accounts",
            institution="fcinst_bank_non_oauth",
            account_holder={"type": "bank"},
        )
    assert raised.value.http_status == 400
    assert raised.value.code is not None
    assert raised.value.code.startswith("parameter_invalid_")
    assert raised.value.param == "account_holder[type]"


def test_bad_integer_raises_parameter_invalid_integer(client: stripe.StripeClient) -> None:
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.customers.list(params=unchecked({"limit": "ten"}))
    assert raised.value.code == "parameter_invalid_integer"
    assert raised.value.param == "limit"


# --- headers --------------------------------------------------------------------------


def test_every_response_carries_a_request_id(server: RunningServer, platform: NewPlatform) -> None:
    with http(server, platform.test_secret_key) as api:
        responses = [
            api.get("/v1/customers"),  # 200
            api.get("/v1/customers", headers={"Authorization": ""}),  # 401
            api.get("/v1/customers/cus_missing"),  # 404
            api.post("/v1/customers?bogus=1"),  # 400
            api.get("/v1/no_such_resource"),  # unknown route
            api.get("/healthz"),
        ]
    assert [r.status_code for r in responses] == [200, 401, 404, 400, 404, 200]
    for response in responses:
        assert response.headers["Request-Id"].startswith("req_")


def test_api_answers_are_never_cached(server: RunningServer, platform: NewPlatform) -> None:
    # Some answers carry secrets (a webhook secret, a hosted link, a client secret).
    with http(server, platform.test_secret_key) as api:
        answers = [
            api.post("/v1/customers", data={"email": "nocache@example.com"}),
            api.get("/v1/customers"),
            api.get("/v1/customers/cus_missing"),
            api.get("/v1/no_such_route"),
        ]
    with http(server, None) as anonymous:
        answers.append(anonymous.get("/v1/customers"))
    assert [answer.headers.get("Cache-Control") for answer in answers] == ["no-store"] * 5


def test_request_ids_differ_between_requests(server: RunningServer) -> None:
    first = httpx.get(f"{server.url}/v1/customers").headers["Request-Id"]
    second = httpx.get(f"{server.url}/v1/customers").headers["Request-Id"]
    assert first != second


def test_stripe_version_header_is_echoed(server: RunningServer, platform: NewPlatform) -> None:
    with http(server, platform.test_secret_key) as api:
        response = api.get("/v1/customers", headers={"Stripe-Version": "2025-03-31.basil"})
    assert response.headers["Stripe-Version"] == "2025-03-31.basil"


def test_a_request_without_stripe_version_is_answered_at_the_platforms_default(
    server: RunningServer, platform: NewPlatform
) -> None:
    with http(server, platform.test_secret_key) as api:
        assert api.get("/v1/customers").headers["Stripe-Version"] == LATEST_API_VERSION
        with server.runtime.database.unit_of_work() as session:
            row = session.get(Platform, platform.platform.id)
            assert row is not None
            row.default_api_version = "2025-06-30.basil"
        assert api.get("/v1/customers").headers["Stripe-Version"] == "2025-06-30.basil"


def test_stripe_version_is_echoed_on_errors(server: RunningServer) -> None:
    response = httpx.get(
        f"{server.url}/v1/customers", headers={"Stripe-Version": "2025-03-31.basil"}
    )
    assert response.status_code == 401
    assert response.headers["Stripe-Version"] == "2025-03-31.basil"


@pytest.mark.parametrize("version", ["2099-01-01", "2024-06-20", "2025-3-31.basil", "latest"])
def test_an_unknown_stripe_version_is_a_400_in_stripes_words_and_changes_nothing(
    server: RunningServer, platform: NewPlatform, version: str
) -> None:
    with http(server, platform.test_secret_key) as api:
        response = api.post(
            "/v1/customers", data={"email": "v@example.com"}, headers={"Stripe-Version": version}
        )
        assert response.status_code == 400
        assert response.json() == {
            "error": {
                "type": "invalid_request_error",
                "message": f"Invalid Stripe API version: {version}",
            }
        }
        assert response.headers["Stripe-Version"] == LATEST_API_VERSION
        assert api.get("/v1/customers").json()["data"] == []


def test_the_sdk_raises_invalid_request_error_for_an_unknown_stripe_version(
    server: RunningServer, platform: NewPlatform
) -> None:
    client = stripe.StripeClient(
        platform.test_secret_key,
        base_addresses={"api": server.url},
        max_network_retries=0,
        stripe_version="2099-01-01.future",
    )
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.customers.list()
    assert raised.value.http_status == 400
    assert raised.value.user_message == "Invalid Stripe API version: 2099-01-01.future"


def test_stripe_account_header_is_rejected_naming_the_header(
    server: RunningServer, platform: NewPlatform
) -> None:
    client = stripe_client(server, platform.test_secret_key)
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.customers.create(
            params={"email": "other@example.com"}, options={"stripe_account": "acct_123"}
        )
    assert raised.value.http_status == 400
    assert raised.value.param == "Stripe-Account"
    assert client.v1.customers.list().data == []


def test_unknown_v1_route_gets_404_in_the_stripe_envelope(
    server: RunningServer, platform: NewPlatform
) -> None:
    with http(server, platform.test_secret_key) as api:
        response = api.post("/v1/no_such_resource")
    error = assert_error(response, 404)
    assert "/v1/no_such_resource" in error["message"]


def test_unknown_v1_route_echoes_stripe_version(server: RunningServer) -> None:
    response = httpx.get(
        f"{server.url}/v1/no_such_resource", headers={"Stripe-Version": "2024-06-20"}
    )
    assert response.status_code == 404
    assert response.headers["Stripe-Version"] == "2024-06-20"


def test_known_path_with_an_unsupported_method_gets_404_in_the_stripe_envelope(
    server: RunningServer, platform: NewPlatform
) -> None:
    with http(server, platform.test_secret_key) as api:
        response = api.put("/v1/customers")
    assert_error(response, 404)


# --- lists ------------------------------------------------------------------------------


def test_list_has_stripe_shape_with_a_relative_url(
    server: RunningServer, platform: NewPlatform
) -> None:
    ids = insert_customers(server.runtime, platform, 3)
    with http(server, platform.test_secret_key) as api:
        body = api.get("/v1/customers", params={"limit": 2}).json()
    assert body["object"] == "list"
    assert body["url"] == "/v1/customers"
    assert body["has_more"] is True
    assert [item["id"] for item in body["data"]] == ids[:2]


def test_last_page_has_no_more(client: stripe.StripeClient, server: RunningServer) -> None:
    customer = create_customer_via_api(client, email="only@example.com")
    page = client.v1.customers.list(params={"limit": 1})
    assert [c.id for c in page.data] == [customer.id]
    assert page.has_more is False


def test_list_defaults_to_ten_newest_first(
    client: stripe.StripeClient, server: RunningServer, platform: NewPlatform
) -> None:
    ids = insert_customers(server.runtime, platform, 12)
    page = client.v1.customers.list()
    assert [c.id for c in page.data] == ids[:10]


def test_limit_bounds_1_and_100_are_accepted(client: stripe.StripeClient) -> None:
    assert client.v1.customers.list(params={"limit": 1}).data == []
    assert client.v1.customers.list(params={"limit": 100}).data == []


@pytest.mark.parametrize("limit", [0, 101])
def test_limit_outside_1_to_100_gets_400_naming_limit(
    client: stripe.StripeClient, limit: int
) -> None:
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.customers.list(params={"limit": limit})
    assert raised.value.http_status == 400
    assert raised.value.param == "limit"


def test_starting_after_and_ending_before_together_get_400(
    client: stripe.StripeClient,
) -> None:
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.customers.list(params={"starting_after": "cus_a", "ending_before": "cus_b"})
    assert raised.value.http_status == 400
    assert raised.value.param == "ending_before"


def test_starting_after_is_exclusive(
    client: stripe.StripeClient, server: RunningServer, platform: NewPlatform
) -> None:
    ids = insert_customers(server.runtime, platform, 5)
    page = client.v1.customers.list(params={"starting_after": ids[1], "limit": 2})
    assert [c.id for c in page.data] == ids[2:4]
    assert page.has_more is True


def test_ending_before_is_exclusive_and_returns_the_closest_newer_items(
    client: stripe.StripeClient, server: RunningServer, platform: NewPlatform
) -> None:
    ids = insert_customers(server.runtime, platform, 5)
    page = client.v1.customers.list(params={"ending_before": ids[3], "limit": 2})
    assert [c.id for c in page.data] == ids[1:3]
    assert page.has_more is True


def test_auto_pagination_walks_1000_items_exactly_once(
    client: stripe.StripeClient, server: RunningServer, platform: NewPlatform
) -> None:
    ids = insert_customers(server.runtime, platform, 1000)
    walked = [c.id for c in client.v1.customers.list(params={"limit": 100}).auto_paging_iter()]
    assert walked == ids


def test_auto_pagination_with_ending_before_walks_backwards_to_the_newest(
    client: stripe.StripeClient, server: RunningServer, platform: NewPlatform
) -> None:
    ids = insert_customers(server.runtime, platform, 25)
    walked = [
        c.id
        for c in client.v1.customers.list(
            params={"limit": 10, "ending_before": ids[-1]}
        ).auto_paging_iter()
    ]
    assert walked == list(reversed(ids[:-1]))


def test_rows_inserted_during_pagination_cause_no_duplicates_or_skips(
    client: stripe.StripeClient, server: RunningServer, platform: NewPlatform
) -> None:
    ids = insert_customers(server.runtime, platform, 30)
    walked: list[str] = []
    inserted: list[str] = []
    for customer in client.v1.customers.list(params={"limit": 7}).auto_paging_iter():
        walked.append(customer.id)
        if len(walked) % 7 == 0:
            inserted.append(create_customer_via_api(client, email="new@example.com").id)
    assert walked == ids
    assert not set(inserted) & set(walked)


def _last_used(server: RunningServer, platform: NewPlatform) -> Any:
    with server.runtime.database.read_only() as db:
        return db.scalar(
            select(ApiKey.last_used_at).where(
                ApiKey.digest == token_digest(platform.test_secret_key)
            )
        )


def test_a_keys_last_use_is_written_at_most_once_a_minute(
    server: RunningServer,
    platform: NewPlatform,
    client: stripe.StripeClient,
    frozen_clock: FrozenClock,
) -> None:
    assert _last_used(server, platform) is None
    client.v1.customers.list()
    first = _last_used(server, platform)
    assert first == frozen_clock.at
    frozen_clock.advance(seconds=59)
    client.v1.customers.list()
    assert _last_used(server, platform) == first  # within the minute: not written again
    frozen_clock.advance(seconds=1)
    with pytest.raises(stripe.InvalidRequestError):  # a refused request used the key too
        client.v1.customers.retrieve("cus_missing")
    assert _last_used(server, platform) == first + dt.timedelta(seconds=60)
