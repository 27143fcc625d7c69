"""The institutions Relink registers: every sandbox test institution (test mode).

Live institutions are configured by operators (the ``oauth2`` connector) and
registered the same way with ``livemode=True``.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class InstitutionSpec:
    key: str
    name: str
    auth_kind: str  # "oauth" or "credentials"
    connector: str = "sandbox"
    livemode: bool = False
    url: str | None = None
    routing_numbers: tuple[str, ...] = ()
    countries: tuple[str, ...] = ("US",)
    supports_relink: bool = True
    features: dict[str, bool] = field(
        default_factory=lambda: {
            "balances": True,
            "ownership": True,
            "payment_method": True,
            "transactions": True,
        }
    )

    @property
    def institution_id(self) -> str:
        return f"fcinst_{self.key}"


SANDBOX_CATALOG: tuple[InstitutionSpec, ...] = (
    InstitutionSpec(
        "test_non_oauth", "Test (Non-OAuth)", "credentials", routing_numbers=("110000000",)
    ),
    InstitutionSpec("test_oauth", "Test (OAuth)", "oauth", routing_numbers=("110000000",)),
    InstitutionSpec(
        "bank_non_oauth", "Bank (Non-OAuth)", "credentials", routing_numbers=("110000001",)
    ),
    InstitutionSpec("bank_oauth", "Bank (OAuth)", "oauth", routing_numbers=("110000002",)),
    InstitutionSpec(
        "tokenized_account_numbers",
        "Tokenized Account Numbers",
        "oauth",
        routing_numbers=("110000003",),
    ),
    InstitutionSpec(
        "inactive_accounts", "Inactive Accounts", "oauth", routing_numbers=("110000004",)
    ),
    InstitutionSpec(
        "immediately_requires_reauth",
        "Immediately Requires Reauthentication",
        "oauth",
        routing_numbers=("110000005",),
    ),
    InstitutionSpec(
        "eventually_requires_reauth",
        "Eventually Requires Reauthentication",
        "oauth",
        routing_numbers=("110000006",),
    ),
    InstitutionSpec(
        "down_scheduled", "Down (Scheduled)", "credentials", routing_numbers=("110000007",)
    ),
    InstitutionSpec(
        "down_unscheduled", "Down (Unscheduled)", "credentials", routing_numbers=("110000008",)
    ),
    InstitutionSpec("down_error", "Down (Error)", "credentials", routing_numbers=("110000009",)),
    InstitutionSpec(
        "invalid_payment_accounts",
        "Invalid Payment Accounts",
        "oauth",
        routing_numbers=("110000010",),
    ),
)
