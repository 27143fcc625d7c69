"""Relink's own OpenAPI document for the /v1 API (served at ``/v1/openapi.json``).

Written as data rather than inferred: the wire layer decodes Stripe-style bracket forms
itself, so no framework knows the parameters. The document is what schemathesis fuzzes
the API against; keep it in step with the handlers (a test checks every route is here).
"""

from __future__ import annotations

from typing import Any

from relink.kit.api_versions import API_VERSIONS, LATEST_API_VERSION

STRING = {"type": "string", "maxLength": 5000}
ID = {"type": "string", "maxLength": 255}
UNIX = {"type": "integer", "minimum": 0, "maximum": 253402300799}
LIMIT = {"type": "integer", "minimum": 1, "maximum": 100}
PERMISSIONS = {
    "type": "array",
    "items": {
        "type": "string",
        "enum": ["balances", "ownership", "payment_method", "transactions"],
    },
}
HOLDER = {
    "type": "object",
    "properties": {
        "type": {"type": "string", "enum": ["customer", "account"]},
        "customer": ID,
        "account": ID,
    },
    "required": ["type"],
}
METADATA = {"type": "object", "additionalProperties": {"type": "string", "maxLength": 500}}
OBJECT = {"type": "object"}
LIST_PARAMS = {"limit": LIMIT, "starting_after": ID, "ending_before": ID}
API_VERSION = {"type": "string", "enum": list(API_VERSIONS)}
STRIPE_VERSION = {
    "name": "Stripe-Version",
    "in": "header",
    "required": False,
    "description": "The API version to answer at (an unknown one is a 400); without it, the "
    f"platform's default version, {LATEST_API_VERSION} for a new platform.",
    "schema": API_VERSION,
}

# path → method → (parameters as a JSON schema "properties" map, required names)
ENDPOINTS: dict[str, dict[str, tuple[dict[str, Any], list[str]]]] = {
    "/v1/customers": {
        "get": ({**LIST_PARAMS, "email": STRING}, []),
        "post": (
            {
                "email": {"type": "string", "format": "email", "maxLength": 320},
                "name": STRING,
                "description": STRING,
                "preferred_locales": {
                    "type": "array",
                    "items": {"type": "string", "maxLength": 16},
                },
                "metadata": METADATA,
            },
            [],
        ),
    },
    "/v1/customers/{id}": {
        "get": ({}, []),
        "post": (
            {"email": {"type": "string", "format": "email"}, "name": STRING, "metadata": METADATA},
            [],
        ),
        "delete": ({}, []),
    },
    "/v1/accounts": {
        "get": (dict(LIST_PARAMS), []),
        "post": (
            {
                "email": {"type": "string", "format": "email"},
                "business_profile": {"type": "object", "properties": {"name": STRING}},
                "metadata": METADATA,
            },
            [],
        ),
    },
    "/v1/accounts/{id}": {
        "get": ({}, []),
        "post": ({"email": {"type": "string", "format": "email"}, "metadata": METADATA}, []),
    },
    "/v1/financial_connections/institutions": {"get": (dict(LIST_PARAMS), [])},
    "/v1/financial_connections/institutions/{id}": {"get": ({}, [])},
    "/v1/financial_connections/accounts": {
        "get": (
            {
                **LIST_PARAMS,
                "account_holder": {"type": "object", "properties": {"customer": ID, "account": ID}},
                "session": ID,
            },
            [],
        ),
    },
    "/v1/financial_connections/accounts/{id}": {
        "get": ({"expand": {"type": "array", "items": STRING}}, [])
    },
    "/v1/financial_connections/accounts/{id}/disconnect": {"post": ({}, [])},
    "/v1/financial_connections/accounts/{id}/refresh": {
        "post": (
            {
                "features": {
                    "type": "array",
                    "items": {
                        "type": "string",
                        "enum": ["balance", "inferred_balances", "ownership", "transactions"],
                    },
                }
            },
            ["features"],
        ),
    },
    "/v1/financial_connections/accounts/{id}/subscribe": {
        "post": (
            {
                "features": {
                    "type": "array",
                    "items": {
                        "type": "string",
                        "enum": ["balance", "inferred_balances", "transactions"],
                    },
                }
            },
            ["features"],
        ),
    },
    "/v1/financial_connections/accounts/{id}/unsubscribe": {
        "post": (
            {
                "features": {
                    "type": "array",
                    "items": {
                        "type": "string",
                        "enum": ["balance", "inferred_balances", "transactions"],
                    },
                }
            },
            ["features"],
        ),
    },
    "/v1/financial_connections/accounts/{id}/owners": {
        "get": ({**LIST_PARAMS, "ownership": ID}, ["ownership"])
    },
    "/v1/financial_connections/accounts/{id}/inferred_balances": {"get": (LIST_PARAMS, [])},
    "/v1/financial_connections/accounts/{id}/relink_eligibility": {"get": ({}, [])},
    "/v1/financial_connections/authorizations/{id}": {"get": ({}, [])},
    "/v1/financial_connections/transactions": {
        "get": (
            {
                **LIST_PARAMS,
                "account": ID,
                "transacted_at": {
                    "anyOf": [
                        UNIX,
                        {
                            "type": "object",
                            "properties": {"gte": UNIX, "lte": UNIX, "gt": UNIX, "lt": UNIX},
                        },
                    ]
                },
            },
            ["account"],
        ),
    },
    "/v1/financial_connections/transactions/{id}": {"get": ({}, [])},
    "/v1/financial_connections/sessions": {
        "get": (
            {
                **LIST_PARAMS,
                "status": {
                    "type": "string",
                    "enum": ["pending", "succeeded", "failed", "cancelled"],
                },
                "ui_mode": {"type": "string", "enum": ["modal", "hosted"]},
                "relink_options": {
                    "type": "object",
                    "properties": {"account": ID, "authorization": ID},
                },
            },
            [],
        ),
        "post": (
            {
                "account_holder": HOLDER,
                "permissions": PERMISSIONS,
                "filters": {
                    "type": "object",
                    "properties": {
                        "countries": {"type": "array", "items": {"type": "string", "maxLength": 2}},
                        "require_payment_method_support": {
                            "type": "string",
                            "enum": ["all", "at_least_one", "none"],
                        },
                    },
                },
                "limits": {"type": "object", "properties": {"accounts": LIMIT}},
                "prefetch": {
                    "type": "array",
                    "items": {"type": "string", "enum": ["balances", "ownership", "transactions"]},
                },
                "return_url": STRING,
                "relink_options": {
                    "type": "object",
                    "properties": {"authorization": ID, "account": ID},
                },
                "ui_mode": {"type": "string", "enum": ["modal", "hosted"]},
                "hosted": {
                    "type": "object",
                    "properties": {
                        "delivery_method": {"type": "string", "enum": ["email", "url"]},
                        "return_url": STRING,
                    },
                },
            },
            ["permissions"],
        ),
    },
    "/v1/financial_connections/sessions/{id}": {"get": ({}, [])},
    "/v1/events": {
        "get": (
            {
                **LIST_PARAMS,
                "type": STRING,
                "created": {"type": "object", "properties": {"gte": UNIX, "lte": UNIX}},
            },
            [],
        )
    },
    "/v1/events/{id}": {"get": ({}, [])},
    "/v1/webhook_endpoints": {
        "get": (dict(LIST_PARAMS), []),
        "post": (
            {
                "url": STRING,
                "enabled_events": {"type": "array", "items": STRING},
                # Events are rendered at it for this endpoint (else the platform's default).
                "api_version": API_VERSION,
                "description": STRING,
                "metadata": METADATA,
            },
            ["url", "enabled_events"],
        ),
    },
    "/v1/webhook_endpoints/{id}": {
        "get": ({}, []),
        "post": (
            {
                "url": STRING,
                "enabled_events": {"type": "array", "items": STRING},
                "disabled": {"type": "boolean"},
            },
            [],
        ),
        "delete": ({}, []),
    },
    # A Relink extension: Stripe rolls webhook secrets in its dashboard only.
    "/v1/webhook_endpoints/{id}/roll_secret": {
        "post": (
            {
                "previous_secret_expires_in": {
                    "type": "integer",
                    "minimum": 0,
                    "maximum": 86400,
                    "description": "Seconds the current secret keeps signing beside the "
                    "new one (a second v1= in Stripe-Signature): 0 stops it at once, "
                    "the default is 86400 (a day, the most).",
                }
            },
            [],
        )
    },
    "/v1/test_helpers/financial_connections/accounts": {
        "post": (
            {
                "institution": ID,
                "account_holder": HOLDER,
                "permissions": PERMISSIONS,
                "subcategory": {
                    "type": "string",
                    "enum": [
                        "checking",
                        "savings",
                        "credit_card",
                        "line_of_credit",
                        "mortgage",
                        "other",
                    ],
                },
                "display_name": STRING,
                "last4": {"type": "string", "pattern": "^[0-9]{4}$"},
                "authorization": ID,
                "account_numbers": {
                    "type": "object",
                    "properties": {
                        "expected_expiry_date": UNIX,
                        "status": {
                            "type": "string",
                            "enum": ["pending", "transactable", "expired", "deactivated"],
                        },
                    },
                },
            },
            ["institution", "account_holder"],
        ),
    },
    "/v1/test_helpers/financial_connections/accounts/{id}/deactivate": {
        "post": (
            {
                "cause": {
                    "type": "string",
                    "enum": [
                        "access_denied",
                        "access_expired",
                        "account_closed",
                        "account_unavailable",
                        "institution_requirement",
                        "unspecified",
                    ],
                }
            },
            [],
        ),
    },
    "/v1/test_helpers/financial_connections/accounts/{id}/update_account_numbers": {
        "post": (
            {
                "expected_expiry_date": UNIX,
                "status": {
                    "type": "string",
                    "enum": ["pending", "transactable", "expired", "deactivated"],
                },
            },
            [],
        ),
    },
    "/v1/test_helpers/financial_connections/accounts/{id}/update_expected_deactivation": {
        "post": ({"expected_deactivation_date": UNIX}, ["expected_deactivation_date"]),
    },
    "/v1/test_helpers/financial_connections/authorizations/{id}/revoke": {"post": ({}, [])},
    "/v1/test_helpers/clock/advance": {
        "post": ({"seconds": {"type": "integer", "minimum": 1, "maximum": 315360000}}, ["seconds"])
    },
}

# What a parameter list cannot say.
DESCRIPTIONS = {
    ("/v1/webhook_endpoints/{id}/roll_secret", "post"): (
        "A Relink extension. Replaces the endpoint's signing secret with a new one, returned "
        "in `secret` this once. Until `previous_secret_expires_in` has passed, deliveries are "
        "signed with both (two `v1=` in `Stripe-Signature`), so a receiver verifying with "
        "either accepts them; rolling again in that time stops the older secret at once."
    ),
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


def _operation(
    path: str, method: str, properties: dict[str, Any], required: list[str]
) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "operationId": f"{method}_{path.strip('/').replace('/', '_').replace('{', '').replace('}', '')}",
        "responses": {
            "200": {
                "description": "The object",
                "content": {"application/json": {"schema": OBJECT}},
            },
            "4XX": {
                "description": "A Stripe-style error",
                "content": {"application/json": {"schema": ERROR}},
            },
        },
        "security": [{"secretKey": []}],
    }
    if (path, method) in DESCRIPTIONS:
        operation["description"] = DESCRIPTIONS[path, method]
    parameters: list[dict[str, Any]] = [STRIPE_VERSION]
    if "{id}" in path:
        parameters.append({"name": "id", "in": "path", "required": True, "schema": ID})
    if method == "post":
        if properties:
            operation["requestBody"] = {
                "required": bool(required),
                "content": {
                    "application/x-www-form-urlencoded": {
                        "schema": {"type": "object", "properties": properties, "required": required}
                    }
                },
            }
    else:
        for name, schema in properties.items():
            parameters.append(
                {
                    "name": name,
                    "in": "query",
                    "required": name in required,
                    "schema": schema,
                    **(
                        {"style": "deepObject", "explode": True}
                        if schema.get("type") == "object"
                        else {}
                    ),
                }
            )
    if parameters:
        operation["parameters"] = parameters
    return operation


def openapi_document() -> dict[str, Any]:
    paths = {
        path: {method: _operation(path, method, *spec) for method, spec in methods.items()}
        for path, methods in ENDPOINTS.items()
    }
    return {
        "openapi": "3.0.3",
        "info": {"title": "Relink API", "version": "v1"},
        "paths": paths,
        "components": {"securitySchemes": {"secretKey": {"type": "http", "scheme": "bearer"}}},
    }
