"""Errors that know their wire shape (Stripe's error envelope)."""

from __future__ import annotations

from typing import Any, ClassVar


class ApiError(Exception):
    """An error rendered as ``{"error": {...}}`` with an HTTP status."""

    status: ClassVar[int] = 400
    type: ClassVar[str] = "invalid_request_error"
    code: ClassVar[str | None] = None

    def __init__(
        self,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        extra: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.instance_code = code if code is not None else self.code
        self.extra = extra or {}
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"type": self.type, "message": self.message}
        if self.instance_code:
            error["code"] = self.instance_code
            error["doc_url"] = f"https://docs.relink.dev/error-codes#{self.instance_code}"
        if self.param:
            error["param"] = self.param
        error.update(self.extra)
        return {"error": error}


class InvalidRequest(ApiError):
    pass


class ParameterUnknown(ApiError):
    code = "parameter_unknown"

    def __init__(self, param: str) -> None:
        super().__init__(f"Received unknown parameter: {param}", param=param)


class ParameterMissing(ApiError):
    code = "parameter_missing"

    def __init__(self, param: str) -> None:
        super().__init__(f"Missing required param: {param}.", param=param)


class ParameterInvalid(ApiError):
    """Bad value for a parameter; ``code`` is one of Stripe's ``parameter_invalid_*``."""

    code = "parameter_invalid_string"

    def __init__(self, param: str, message: str, *, code: str | None = None) -> None:
        super().__init__(message, param=param, code=code)


class InvalidEnum(ParameterInvalid):
    def __init__(self, param: str, value: object, allowed: tuple[str, ...] | list[str]) -> None:
        choices = ", ".join(f"`{choice}`" for choice in allowed)
        super().__init__(
            param,
            f"Invalid {param}: must be one of {choices}",
            code="parameter_invalid_string",
        )
        self.value = value


class ResourceMissing(ApiError):
    status = 404
    code = "resource_missing"

    def __init__(self, object_name: str, object_id: str, *, param: str | None = "id") -> None:
        super().__init__(f"No such {object_name}: '{object_id}'", param=param)


class CursorMissing(ResourceMissing):
    """``starting_after``/``ending_before`` naming no object of the list: a bad request."""

    status = 400


class AuthenticationFailed(ApiError):
    status = 401
    type = "invalid_request_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)


class PermissionDenied(ApiError):
    status = 403
    code = "secret_key_required"


class IdempotencyMismatch(ApiError):
    type = "idempotency_error"
    code = "idempotency_key_reused"


class IdempotencyInFlight(ApiError):
    status = 409
    code = "idempotency_key_in_use"


class RateLimited(ApiError):
    status = 429
    code = "rate_limit"
    type = "invalid_request_error"


class LivemodeMismatch(ApiError):
    code = "livemode_mismatch"


class NotYetAvailable(ApiError):
    code = "feature_not_available"


class ApiServerError(ApiError):
    status = 500
    type = "api_error"


class ServiceUnavailable(ApiError):
    """The database cannot serve now (a lock held too long, no connection in time, the
    server unreachable): a 503 the client retries after ``Retry-After`` seconds."""

    status = 503
    type = "api_error"
