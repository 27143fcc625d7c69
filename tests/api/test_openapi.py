"""The OpenAPI document built from the routes' declarations, and schemathesis fuzzing
every operation and parameter of the API against it."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from openapi_spec_validator import validate
from schemathesis.core.result import Ok

from relink.api.openapi import openapi_document
from relink.api.params import Params, fields_of
from relink.api.router import Operation
from relink.platforms.service import NewPlatform
from relink.routes import API_ROUTERS
from tests.conftest import RunningServer

OPERATIONS = [operation for router in API_ROUTERS for operation in router.operations]
DOCUMENT = openapi_document(OPERATIONS)


def declared_names(model: type[Params], prefix: str = "") -> set[str]:
    """Every parameter a declaration gives its handler, nested ones as ``a[b]``."""
    names: set[str] = set()
    for name, field in fields_of(model).items():
        wire = f"{prefix}[{name}]" if prefix else name
        names.add(wire)
        nested = field.kind.nested()
        if nested is not None:
            names |= declared_names(nested, wire)
    return names


def documented_names(schema: dict[str, Any], prefix: str) -> set[str]:
    names = {prefix}
    for option in [schema, *schema.get("anyOf", [])]:
        for name, child in option.get("properties", {}).items():
            names |= documented_names(child, f"{prefix}[{name}]")
    return names


def documented_parameters(operation: Operation) -> set[str]:
    entry = DOCUMENT["paths"][operation.path][operation.method.lower()]
    names: set[str] = set()
    if "requestBody" in entry:
        body = entry["requestBody"]["content"]["application/x-www-form-urlencoded"]["schema"]
        for name, schema in body["properties"].items():
            names |= documented_names(schema, name)
    for parameter in entry["parameters"]:
        if parameter["in"] == "query":
            names |= documented_names(parameter["schema"], parameter["name"].removesuffix("[]"))
    return names


def test_the_document_is_valid_openapi() -> None:
    validate(DOCUMENT)


def test_every_api_route_is_in_the_openapi_document() -> None:
    routes = {
        (route.path, method.lower())
        for router in API_ROUTERS
        for route in router.routes
        for method in (route.methods or set()) - {"HEAD"}
    }
    documented = {
        (path, method) for path, methods in DOCUMENT["paths"].items() for method in methods
    }
    assert routes == documented


@pytest.mark.parametrize(
    "operation", OPERATIONS, ids=[f"{op.method} {op.path}" for op in OPERATIONS]
)
def test_every_parameter_a_handler_is_given_is_documented(operation: Operation) -> None:
    # A handler is given only its route's declaration (parsed), and an undeclared name is
    # refused as parameter_unknown before it runs: so what it can read is this set.
    assert declared_names(operation.params) == documented_parameters(operation)


def test_the_session_create_filters_and_prefetch_are_documented() -> None:
    create = next(
        op
        for op in OPERATIONS
        if op.path == "/v1/financial_connections/sessions" and op.method == "POST"
    )
    names = documented_parameters(create)
    assert {"filters[countries]", "filters[account_subcategories]", "prefetch"} <= names


def test_a_required_parameter_is_required_in_the_document() -> None:
    entry = DOCUMENT["paths"]["/v1/financial_connections/transactions"]["get"]
    account = next(p for p in entry["parameters"] if p["name"] == "account")
    assert account["required"] is True
    body = DOCUMENT["paths"]["/v1/webhook_endpoints"]["post"]["requestBody"]
    assert body["required"] is True
    form = body["content"]["application/x-www-form-urlencoded"]["schema"]
    assert form["required"] == ["url", "enabled_events"]


def test_a_list_in_a_query_is_named_with_brackets() -> None:
    entry = DOCUMENT["paths"]["/v1/events"]["get"]
    assert {"expand[]", "types[]"} <= {p["name"] for p in entry["parameters"]}


def test_a_handlers_docstring_describes_its_operation() -> None:
    roll = DOCUMENT["paths"]["/v1/webhook_endpoints/{id}/roll_secret"]["post"]
    assert "previous_secret_expires_in" in roll["description"]


def test_openapi_document_is_served(server: RunningServer) -> None:
    document = httpx.get(server.url + "/v1/openapi.json").json()
    assert document == DOCUMENT


@pytest.mark.slow
def test_no_generated_request_makes_the_api_fail(
    server: RunningServer, platform: NewPlatform
) -> None:
    schema = schemathesis.openapi.from_url(server.url + "/v1/openapi.json")
    headers = {"Authorization": f"Bearer {platform.test_secret_key}"}
    failures = []
    fuzzed = set()
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result
        operation = result.ok()

        @settings(
            max_examples=15, deadline=None, suppress_health_check=list(HealthCheck), database=None
        )
        @given(case=operation.as_strategy())
        def fuzz(case: schemathesis.Case[Any]) -> None:
            fuzzed.add((case.path, case.method.lower()))
            response = case.call(base_url=server.url, headers=headers)
            if response.status_code >= 500:
                failures.append(
                    f"{case.method} {case.formatted_path}: {response.status_code} {response.text[:200]}"
                )

        fuzz()
    assert failures == []
    assert fuzzed == {
        (path, method) for path, methods in DOCUMENT["paths"].items() for method in methods
    }
