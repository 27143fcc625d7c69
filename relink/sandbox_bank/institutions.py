"""The sandbox bank's test institutions, modelled on the ones Stripe documents.

Relink registers one `fcinst_<key>` per entry of `SANDBOX_INSTITUTIONS`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Literal

AuthKind = Literal["oauth", "credentials"]


class Feature(enum.StrEnum):
    """Named behaviours; the bank branches on these, never on institution keys."""

    always_succeeds = "always_succeeds"  # credential login accepts anything
    keyword_logins = "keyword_logins"  # mfa/options/... keywords in passwords and answers
    account_picker_changes = "account_picker_changes"  # picker starts with nothing checked
    tokenized_numbers = "tokenized_numbers"  # TANs expiring per account
    inactive_after_first_refresh = "inactive_after_first_refresh"
    reauth_expires_next_day = "reauth_expires_next_day"
    consent_expires_30_days = "consent_expires_30_days"
    down_scheduled = "down_scheduled"
    down_unscheduled = "down_unscheduled"
    down_error = "down_error"
    invalid_payment_numbers = "invalid_payment_numbers"


class AccountKind(enum.StrEnum):
    checking = "checking"
    savings = "savings"
    credit_card = "credit_card"


class TanBehaviour(enum.StrEnum):
    """How an account's payment-network number behaves."""

    plain = "plain"  # the real account number, never expires
    tokenized = "tokenized"  # a TAN, valid one year from authentication
    already_expired = "already_expired"
    expires_in_30_days = "expires_in_30_days"
    expires_after_linking = "expires_after_linking"  # 5 minutes after authentication
    no_ach = "no_ach"
    deactivated = "deactivated"


@dataclass(frozen=True, slots=True)
class AccountSlot:
    """One account every user of the institution has; `slot` feeds the stable id."""

    slot: str
    display_name: str
    kind: AccountKind
    tan: TanBehaviour = TanBehaviour.plain


@dataclass(frozen=True, slots=True)
class SandboxInstitution:
    key: str
    display_name: str
    auth_kind: AuthKind
    url: str
    routing_numbers: tuple[str, ...]
    features: frozenset[Feature]
    accounts: tuple[AccountSlot, ...]

    def has(self, feature: Feature) -> bool:
        return feature in self.features


_EVERYDAY = (
    AccountSlot("checking", "Checking", AccountKind.checking),
    AccountSlot("savings", "Savings", AccountKind.savings),
    # card accounts have no ACH network
    AccountSlot("credit_card", "Credit Card", AccountKind.credit_card, TanBehaviour.no_ach),
)
_TWO = _EVERYDAY[:2]


def _institution(
    key: str,
    name: str,
    auth_kind: AuthKind,
    routing: str,
    features: set[Feature],
    accounts: tuple[AccountSlot, ...] = _EVERYDAY,
) -> SandboxInstitution:
    return SandboxInstitution(
        key=key,
        display_name=name,
        auth_kind=auth_kind,
        url=f"https://{key.replace('_', '-')}.sandbox.relink.invalid",
        routing_numbers=(routing,),
        features=frozenset(features),
        accounts=accounts,
    )


SANDBOX_INSTITUTIONS: tuple[SandboxInstitution, ...] = (
    _institution(
        "test_non_oauth",
        "Test (Non-OAuth)",
        "credentials",
        "110000000",
        {Feature.always_succeeds},
    ),
    _institution("test_oauth", "Test (OAuth)", "oauth", "110000000", set()),
    _institution(
        "bank_non_oauth", "Bank (Non-OAuth)", "credentials", "110000013", {Feature.keyword_logins}
    ),
    _institution(
        "bank_oauth",
        "Bank (OAuth)",
        "oauth",
        "110000026",
        {Feature.keyword_logins, Feature.account_picker_changes},
        (*_EVERYDAY, AccountSlot("joint_checking", "Joint Checking", AccountKind.checking)),
    ),
    _institution(
        "tokenized_account_numbers",
        "Tokenized Account Numbers",
        "oauth",
        "110000039",
        {Feature.tokenized_numbers},
        (
            AccountSlot(
                "expired",
                "Expired Number Checking",
                AccountKind.checking,
                TanBehaviour.already_expired,
            ),
            AccountSlot(
                "expiring",
                "Expiring Soon Checking",
                AccountKind.checking,
                TanBehaviour.expires_in_30_days,
            ),
            AccountSlot(
                "short_lived",
                "Short-Lived Number Savings",
                AccountKind.savings,
                TanBehaviour.expires_after_linking,
            ),
        ),
    ),
    _institution(
        "inactive_accounts",
        "Inactive Accounts",
        "credentials",
        "110000042",
        {Feature.inactive_after_first_refresh},
        _TWO,
    ),
    _institution(
        "immediately_requires_reauth",
        "Immediately Requires Reauthentication",
        "oauth",
        "110000055",
        {Feature.inactive_after_first_refresh, Feature.reauth_expires_next_day},
        _TWO,
    ),
    _institution(
        "eventually_requires_reauth",
        "Eventually Requires Reauthentication",
        "oauth",
        "110000068",
        {Feature.consent_expires_30_days},
        _TWO,
    ),
    _institution(
        "down_scheduled",
        "Down (Scheduled)",
        "credentials",
        "110000071",
        {Feature.down_scheduled},
        _TWO,
    ),
    _institution(
        "down_unscheduled",
        "Down (Unscheduled)",
        "credentials",
        "110000084",
        {Feature.down_unscheduled},
        _TWO,
    ),
    _institution(
        "down_error", "Down (Error)", "credentials", "110000097", {Feature.down_error}, _TWO
    ),
    _institution(
        "invalid_payment_accounts",
        "Invalid Payment Accounts",
        "credentials",
        "110000107",
        {Feature.invalid_payment_numbers},
        (
            AccountSlot("no_ach", "Wire-Only Checking", AccountKind.checking, TanBehaviour.no_ach),
            AccountSlot(
                "deactivated",
                "Frozen Number Savings",
                AccountKind.savings,
                TanBehaviour.deactivated,
            ),
        ),
    ),
)

INSTITUTIONS_BY_KEY: dict[str, SandboxInstitution] = {i.key: i for i in SANDBOX_INSTITUTIONS}


def institution(key: str) -> SandboxInstitution | None:
    return INSTITUTIONS_BY_KEY.get(key)
