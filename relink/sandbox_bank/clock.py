""" "Now" for the sandbox bank: real time, unless the caller says otherwise.

Relink shifts a per-platform sandbox clock; it sends that time in the
`Relink-Sandbox-Time` header (unix seconds) on every call, and every time-dependent
answer (token and consent expiry, TAN expiry, transactions) is computed from it.
Browser pages never carry it, so they only stamp wall-clock things (code expiry).
"""

from __future__ import annotations

from datetime import UTC, datetime

from starlette.requests import Request

from relink.sandbox_bank.errors import BankError

SANDBOX_TIME_HEADER = "Relink-Sandbox-Time"


def wall_clock() -> datetime:
    return datetime.now(UTC)


def request_now(request: Request) -> datetime:
    raw = request.headers.get(SANDBOX_TIME_HEADER)
    if raw is None:
        return wall_clock()
    try:
        return datetime.fromtimestamp(int(raw), UTC)
    except (ValueError, OverflowError, OSError):
        raise BankError(
            400, "invalid_request", f"{SANDBOX_TIME_HEADER} must be unix seconds"
        ) from None
