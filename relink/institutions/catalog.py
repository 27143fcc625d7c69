"""The institutions Relink registers: every sandbox test institution (test mode).

Live institutions are configured by operators (``relink institutions``, see
``relink.institutions.configure``), not listed here.

A spec's ``settings`` are its connector's settings; ``{sandbox_bank_url}`` in a value
stands for the embedded sandbox bank's URL. Sandbox-connector specs default to the
sandbox bank and their own key.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from relink.sandbox_bank.institutions import SANDBOX_INSTITUTIONS, SandboxInstitution
from relink.sandbox_bank.psd2.aspsps import COUNTRY as PSD2_COUNTRY
from relink.sandbox_bank.psd2.aspsps import PSD2_ASPSPS, Psd2Aspsp


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
    bic: str | None = None
    settings: Mapping[str, Any] | None = None
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

    @property
    def connector_settings(self) -> dict[str, Any]:
        if self.settings is not None:
            return dict(self.settings)
        if self.connector == "sandbox":
            return {"base_url": "{sandbox_bank_url}", "institution": self.key}
        return {}


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


# Any client id will do at the sandbox bank (a real ASPSP knows the TPP by its certificate).
PSD2_SANDBOX_CLIENT_ID = "relink-sandbox"


def _from_psd2_bank(aspsp: Psd2Aspsp) -> InstitutionSpec:
    """A NextGenPSD2 face of the sandbox bank, served by the production connector."""
    settings: dict[str, Any] = {
        "base_url": f"{{sandbox_bank_url}}/{aspsp.path}",
        "country": PSD2_COUNTRY,
        "bic": aspsp.bic,
        "sca_approaches": [aspsp.approach.value],
        "consent_valid_days": 90,
        "frequency_per_day": 4,
        "sandbox_clock": True,
    }
    if aspsp.oauth_authorize_path and aspsp.oauth_token_path:
        settings |= {
            "oauth_authorize_url": f"{{sandbox_bank_url}}/{aspsp.oauth_authorize_path}",
            "oauth_token_url": f"{{sandbox_bank_url}}/{aspsp.oauth_token_path}",
            "oauth_client_id": PSD2_SANDBOX_CLIENT_ID,
        }
    return InstitutionSpec(
        key=aspsp.key,
        name=aspsp.display_name,
        auth_kind="oauth",  # the holder authorises at the bank (or in its app)
        connector="nextgenpsd2",
        countries=(PSD2_COUNTRY,),
        bic=aspsp.bic,
        settings=settings,
        features={
            "balances": True,
            "ownership": True,
            "payment_method": False,  # IBAN accounts: no US payment method
            "transactions": True,
        },
    )


SANDBOX_CATALOG: tuple[InstitutionSpec, ...] = tuple(
    _from_sandbox_bank(institution) for institution in SANDBOX_INSTITUTIONS
) + tuple(_from_psd2_bank(aspsp) for aspsp in PSD2_ASPSPS)
