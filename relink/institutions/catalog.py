"""The institutions Relink registers: every sandbox test institution (test mode).

Live institutions are configured by operators (the ``oauth2`` connector) and
registered the same way with ``livemode=True``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from relink.sandbox_bank.institutions import SANDBOX_INSTITUTIONS, SandboxInstitution


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


def _from_sandbox_bank(institution: SandboxInstitution) -> InstitutionSpec:
    supported = {
        feature: True for feature in ("balances", "ownership", "payment_method", "transactions")
    }
    return InstitutionSpec(
        key=institution.key,
        name=institution.display_name,
        auth_kind=institution.auth_kind,
        url=institution.url,
        routing_numbers=institution.routing_numbers,
        features=supported,
    )


SANDBOX_CATALOG: tuple[InstitutionSpec, ...] = tuple(
    _from_sandbox_bank(institution) for institution in SANDBOX_INSTITUTIONS
)
