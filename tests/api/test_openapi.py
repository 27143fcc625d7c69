"""The project's own OpenAPI document, and schemathesis fuzzing the API against it."""

from __future__ import annotations

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from relink.api.openapi import ENDPOINTS
from relink.platforms.service import NewPlatform
from relink.routes import API_ROUTERS
from tests.conftest import RunningServer


def test_every_api_route_is_in_the_openapi_document() -> None:
    routes = {
        (route.path, method.lower())
        for router in API_ROUTERS
        for route in router.routes
        for method in (route.methods or set()) - {"HEAD"}
    }
    documented = {(path, method) for path, methods in ENDPOINTS.items() for method in methods}
    assert routes == documented


def test_openapi_document_is_served(server: RunningServer) -> None:
    document = httpx.get(server.url + "/v1/openapi.json").json()
    assert document["openapi"].startswith("3.")
    assert "/v1/financial_connections/sessions" in document["paths"]


@pytest.mark.slow
def test_no_generated_request_makes_the_api_fail(
    server: RunningServer, platform: NewPlatform
) -> None:
    schema = schemathesis.openapi.from_url(server.url + "/v1/openapi.json")
    headers = {"Authorization": f"Bearer {platform.test_secret_key}"}
    failures = []
    for result in schema.get_all_operations():
        operation = result.ok()

        @settings(
            max_examples=15, deadline=None, suppress_health_check=list(HealthCheck), database=None
        )
        @given(case=operation.as_strategy())
        def fuzz(case: schemathesis.Case) -> None:
            response = case.call(base_url=server.url, headers=headers)
            if response.status_code >= 500:
                failures.append(
                    f"{case.method} {case.formatted_path}: {response.status_code} {response.text[:200]}"
                )

        fuzz()
    assert failures == []
