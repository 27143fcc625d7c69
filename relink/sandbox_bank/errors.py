"""The one error type of the sandbox bank, carrying its wire shape (OAuth style)."""

from __future__ import annotations

from typing import Any


class BankError(Exception):
    """An answer the bank gives as an error: `{"error", "error_description", ...}`.

    `reason` is the bank's machine-readable detail (e.g. `consent_revoked`) so a
    connector never has to parse `description`.
    """

    def __init__(
        self,
        status: int,
        error: str,
        description: str,
        *,
        reason: str | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
        commit: bool = False,
    ) -> None:
        super().__init__(description)
        self.status = status
        self.error = error
        self.description = description
        self.reason = reason
        self.headers = dict(headers or {})
        self.extra = dict(extra or {})
        # The unit of work commits before this error leaves (e.g. a grant that breaks
        # on this very call must stay broken).
        self.commit = commit

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"error": self.error, "error_description": self.description}
        if self.reason is not None:
            body["error_reason"] = self.reason
        body.update(self.extra)
        return body


def invalid_token(description: str, reason: str) -> BankError:
    return BankError(
        401,
        "invalid_token",
        description,
        reason=reason,
        headers={"WWW-Authenticate": f'Bearer error="invalid_token", error_description="{reason}"'},
    )
