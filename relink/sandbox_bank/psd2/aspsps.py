"""The bank's NextGenPSD2 ASPSPs: one per SCA approach, each under its own path.

Their XS2A roots (what a connector's `base_url` is), relative to the bank's URL:
`psd2` (Redirect), `psd2/oauth` (Redirect after an OAuth2 pre-step), `psd2/decoupled`
and `psd2/down` (always 503, as in maintenance).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Approach(enum.StrEnum):
    redirect = "redirect"
    oauth = "oauth"  # the OAuth2 pre-step, then the consent without a further SCA
    decoupled = "decoupled"


@dataclass(frozen=True, slots=True)
class Psd2Aspsp:
    key: str
    display_name: str
    path: str  # the XS2A root below the bank's URL, e.g. "psd2/oauth"
    approach: Approach
    bic: str
    bank_code: str  # the German Bankleitzahl inside its IBANs
    down: bool = False

    @property
    def sca_approach_header(self) -> str:
        # OAuth counts as REDIRECT in `ASPSP-SCA-Approach`
        return "DECOUPLED" if self.approach is Approach.decoupled else "REDIRECT"

    @property
    def oauth_authorize_path(self) -> str | None:
        return f"{self.path}/authorize" if self.approach is Approach.oauth else None

    @property
    def oauth_token_path(self) -> str | None:
        return f"{self.path}/token" if self.approach is Approach.oauth else None


COUNTRY = "DE"

PSD2_ASPSPS: tuple[Psd2Aspsp, ...] = (
    Psd2Aspsp("psd2_redirect", "PSD2 Bank (Redirect)", "psd2", Approach.redirect,
              "SBXRDEB1XXX", "10010010"),
    Psd2Aspsp("psd2_oauth", "PSD2 Bank (OAuth)", "psd2/oauth", Approach.oauth,
              "SBXODEB1XXX", "10010020"),
    Psd2Aspsp("psd2_decoupled", "PSD2 Bank (Decoupled)", "psd2/decoupled",
              Approach.decoupled, "SBXDDEB1XXX", "10010030"),
    Psd2Aspsp("psd2_down", "PSD2 Bank (Down)", "psd2/down", Approach.redirect,
              "SBXXDEB1XXX", "10010040", down=True),
)  # fmt: skip

ASPSPS_BY_KEY: dict[str, Psd2Aspsp] = {a.key: a for a in PSD2_ASPSPS}


def aspsp(key: str) -> Psd2Aspsp | None:
    return ASPSPS_BY_KEY.get(key)
