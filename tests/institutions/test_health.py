"""What a connector call's outcome tells about an institution's health."""

from __future__ import annotations

import pytest

from relink.connectors.base import (
    AccessExpired,
    BankServerError,
    ConnectorError,
    InstitutionDown,
    InvalidCredentials,
    RateLimited,
    Unexpected,
)
from relink.institutions.health import health_after_call
from relink.models import InstitutionHealth

DOWN = InstitutionDown("503", retry_after=None, scheduled=False)


@pytest.mark.parametrize("current", list(InstitutionHealth))
def test_a_call_that_succeeds_says_the_bank_works(current: InstitutionHealth) -> None:
    assert health_after_call(None, current) is InstitutionHealth.active


@pytest.mark.parametrize(
    "error",
    [DOWN, InstitutionDown("maintenance", retry_after=60, scheduled=True), BankServerError("500")],
    ids=["down", "maintenance", "server_error"],
)
def test_a_call_the_bank_could_not_serve_puts_a_working_bank_in_trouble(
    error: ConnectorError,
) -> None:
    assert health_after_call(error, InstitutionHealth.active) is InstitutionHealth.degraded


@pytest.mark.parametrize("current", [InstitutionHealth.degraded, InstitutionHealth.inactive])
def test_a_failing_call_never_makes_a_bank_in_trouble_look_better(
    current: InstitutionHealth,
) -> None:
    assert health_after_call(DOWN, current) is current


@pytest.mark.parametrize(
    "error",
    [
        AccessExpired("consent expired"),
        InvalidCredentials("wrong password"),
        RateLimited("too often", retry_after=60),
        Unexpected("bad JSON"),
        ConnectorError("the account is not active"),
    ],
    ids=["access_expired", "invalid_credentials", "rate_limited", "unexpected", "not_a_call"],
)
def test_other_failures_say_nothing_about_the_bank(error: ConnectorError) -> None:
    assert health_after_call(error, InstitutionHealth.active) is None
