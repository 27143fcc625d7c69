"""Per-key token buckets: the limiter itself, and 429 through HTTP."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from relink.app import create_app
from relink.config import Settings
from relink.kit.ratelimit import RateLimiter
from relink.platforms.service import NewPlatform
from relink.runtime import Runtime
from tests.conftest import start_server


class FakeMonotonic:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_bucket_allows_a_burst_then_refuses_with_the_wait() -> None:
    monotonic = FakeMonotonic()
    limiter = RateLimiter(2.0, 3, monotonic=monotonic)
    assert [limiter.acquire("key") for _ in range(3)] == [None, None, None]
    assert limiter.acquire("key") == pytest.approx(0.5)


def test_bucket_refills_at_the_rate() -> None:
    monotonic = FakeMonotonic()
    limiter = RateLimiter(2.0, 3, monotonic=monotonic)
    for _ in range(3):
        limiter.acquire("key")
    monotonic.now += 0.5
    assert limiter.acquire("key") is None
    assert limiter.acquire("key") is not None


def test_bucket_refills_no_higher_than_the_burst() -> None:
    monotonic = FakeMonotonic()
    limiter = RateLimiter(2.0, 3, monotonic=monotonic)
    limiter.acquire("key")
    monotonic.now += 3600
    assert [limiter.acquire("key") for _ in range(4)][-1] is not None


def test_buckets_are_per_key() -> None:
    limiter = RateLimiter(1.0, 1, monotonic=FakeMonotonic())
    assert limiter.acquire("one") is None
    assert limiter.acquire("one") is not None
    assert limiter.acquire("two") is None


def test_zero_rate_refuses_forever_once_the_burst_is_spent() -> None:
    limiter = RateLimiter(0.0, 1, monotonic=FakeMonotonic())
    assert limiter.acquire("key") is None
    assert limiter.acquire("key") == float("inf")


@pytest.fixture(scope="module")
def limited_url(settings: Settings) -> Iterator[str]:
    """A second server on the same database whose buckets hold 2 requests, refilling slowly."""
    limited = settings.model_copy(
        update={
            "rate_limit_test_per_second": 0.1,
            "rate_limit_live_per_second": 0.1,
            "rate_limit_burst": 2,
        }
    )
    runtime = Runtime.from_settings(limited)
    server, thread, url = start_server(create_app(runtime=runtime))
    yield url
    server.should_exit = True
    thread.join(timeout=10)
    runtime.database.engine.dispose()


def get_customers(url: str, key: str) -> httpx.Response:
    return httpx.get(f"{url}/v1/customers", headers={"Authorization": f"Bearer {key}"})


def test_request_beyond_the_burst_gets_429_rate_limit_with_retry_after(
    limited_url: str, platform: NewPlatform
) -> None:
    statuses = [get_customers(limited_url, platform.test_secret_key).status_code for _ in range(2)]
    refused = get_customers(limited_url, platform.test_secret_key)
    assert statuses == [200, 200]
    assert refused.status_code == 429
    error = refused.json()["error"]
    assert error["code"] == "rate_limit"
    assert error["type"] == "invalid_request_error"
    assert 1 <= int(refused.headers["Retry-After"]) <= 10
    assert refused.headers["Request-Id"].startswith("req_")


def test_test_and_live_keys_have_separate_buckets(limited_url: str, platform: NewPlatform) -> None:
    for _ in range(3):
        get_customers(limited_url, platform.test_secret_key)
    assert get_customers(limited_url, platform.test_secret_key).status_code == 429
    assert get_customers(limited_url, platform.live_secret_key).status_code == 200


def test_buckets_are_per_key_not_per_client_address(
    limited_url: str, platform: NewPlatform
) -> None:
    for _ in range(3):
        assert get_customers(limited_url, "sk_test_wrong_key_000000000").status_code == 401
    assert get_customers(limited_url, platform.test_secret_key).status_code == 200
