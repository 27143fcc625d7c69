"""Relink's OpenAPI document for the /v1 API (served at ``/v1/openapi.json``).

Built from the routes' own declarations (:mod:`relink.api.params`): the parameters a
handler is given are the ones listed here, so the document cannot drift from the code.
A GET or DELETE takes them in the query, Stripe-style (``expand[]=…``, ``created[gte]=…``);
a POST in a form body (or JSON).
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable
from typing import Any

from relink.api.params import Schema, object_schema
from relink.api.router import Operation
from relink.kit.api_versions import API_VERSIONS, LATEST_API_VERSION

ID = {"type": "string", "maxLength": 255}
STRIPE_VERSION = {
    "name": "Stripe-Version",
    "in": "header",
    "required": False,
    "description": "The API version to answer at (an unknown one is a 400); without it, the "
    f"platform's default version, {LATEST_API_VERSION} for a new platform.",
    "schema": {"type": "string", "enum": list(API_VERSIONS)},
}
IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": "Repeating a POST with the same key replays the first answer.",
    "schema": {"type": "string", "maxLength": 255},
}
ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["type", "message"],
            "properties": {
                "type": {"type": "string"},
                "message": {"type": "string"},
                "code": {"type": "string"},
                "param": {"type": "string"},
            },
        }
    },
}
RESPONSES = {
    "200": {
        "description": "The object",
        "content": {"application/json": {"schema": {"type": "object"}}},
    },
    "4XX": {
        "description": "A Stripe-style error",
        "content": {"application/json": {"schema": ERROR}},
    },
}
DEEP = {"style": "deepObject", "explode": True}


def query_name(name: str, schema: Schema) -> str:
    """A parameter's name in a query string: a list is sent as ``name[]=…``."""
    return f"{name}[]" if schema.get("type") == "array" else name


def _query_parameter(name: str, schema: Schema, required: bool) -> dict[str, Any]:
    parameter: dict[str, Any] = {
        "name": query_name(name, schema),
        "in": "query",
        "required": required,
        "schema": schema,
    }
    if schema.get("type") == "array":
        parameter.update(style="form", explode=True)
    elif schema.get("type") == "object" or "anyOf" in schema:
        parameter.update(DEEP)
    return parameter


def _operation(operation: Operation) -> dict[str, Any]:
    method = operation.method.lower()
    slug = operation.path.strip("/").replace("/", "_").replace("{", "").replace("}", "")
    document: dict[str, Any] = {
        "operationId": f"{method}_{slug}",
        "responses": RESPONSES,
        "security": [{"secretKey": []}],
    }
    description = inspect.getdoc(operation.handler)
    if description:
        document["description"] = description
    parameters: list[dict[str, Any]] = [STRIPE_VERSION]
    if "{id}" in operation.path:
        parameters.append({"name": "id", "in": "path", "required": True, "schema": ID})
    body = {"type": "object", **object_schema(operation.params)}
    if method == "post":
        parameters.append(IDEMPOTENCY_KEY)
        encoding = {
            name: DEEP
            for name, schema in body["properties"].items()
            if schema.get("type") in ("object", "array")
        }
        document["requestBody"] = {
            "required": "required" in body,
            "content": {
                "application/x-www-form-urlencoded": {"schema": body, "encoding": encoding},
                "application/json": {"schema": body},
            },
        }
    else:
        required = set(body.get("required", ()))
        parameters.extend(
            _query_parameter(name, schema, name in required)
            for name, schema in body["properties"].items()
        )
    document["parameters"] = parameters
    return document


def openapi_document(operations: Iterable[Operation]) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for operation in operations:
        paths.setdefault(operation.path, {})[operation.method.lower()] = _operation(operation)
    return {
        "openapi": "3.0.3",
        "info": {"title": "Relink API", "version": "v1"},
        "paths": paths,
        "components": {"securitySchemes": {"secretKey": {"type": "http", "scheme": "bearer"}}},
    }
