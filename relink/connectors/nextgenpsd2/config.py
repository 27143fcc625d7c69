"""An institution's NextGenPSD2 settings: what the bank (the ASPSP) offers and grants.

An operator writes these in the institution's configuration (see docs/connectors.md);
`Psd2Settings.parse` checks them when they are saved, so a mistake is refused at once
with the name of the setting instead of failing at the holder's first link.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from relink.connectors.base import InvalidConnectorSettings

# PSD2 (RTS Art. 10) lets a consent run at most 180 days before the holder re-authenticates.
MAX_VALID_DAYS = 180
# The Berlin Group allows at most 4 unattended reads a day unless agreed bilaterally.
MAX_FREQUENCY_PER_DAY = 4

_TLS_KEYS = ("client_certificate", "client_key", "ca_certificate")
_COUNTRY = re.compile(r"^[A-Z]{2}$")
_BIC = re.compile(r"^[A-Z]{6}[A-Z0-9]{2}([A-Z0-9]{3})?$")


class ScaApproach(enum.StrEnum):
    """How the holder authorises a consent at this bank (OAuth counts as a redirect)."""

    redirect = "redirect"
    oauth = "oauth"  # the OAuth2 pre-step: authorize + token (PKCE), then the consent
    decoupled = "decoupled"  # the holder approves in the bank's app; Relink polls


class SettingsInvalid(InvalidConnectorSettings):
    """The institution's settings are not usable; the message names the setting."""


@dataclass(frozen=True, slots=True)
class OAuthSettings:
    authorize_url: str
    token_url: str
    client_id: str
    scope: str


class Psd2Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    base_url: str  # the ASPSP's XS2A root; operations are under {base_url}/v1/...
    # The institution's own country and BIC are its record's; these, when given, are
    # checked the same way (a catalog entry's are its institution's).
    country: str | None = None
    bic: str | None = None
    sca_approaches: tuple[ScaApproach, ...] = (ScaApproach.redirect,)
    # The OAuth2 pre-step (flat keys, so a catalog entry is one TOML table).
    oauth_authorize_url: str | None = None
    oauth_token_url: str | None = None
    oauth_client_id: str | None = Field(default=None, min_length=1)
    oauth_scope: str = "AIS"
    consent_valid_days: int = Field(default=90, ge=1, le=MAX_VALID_DAYS)
    frequency_per_day: int = Field(default=4, ge=1, le=MAX_FREQUENCY_PER_DAY)
    connect_timeout_seconds: float = Field(default=5.0, gt=0, le=60)
    read_timeout_seconds: float = Field(default=20.0, gt=0, le=120)
    # validUntil is a date in the bank's local time; the consent ends when that day does.
    timezone: str = "UTC"
    # Where the bank's scaRedirect pages live when not on base_url's origin.
    sca_redirect_origins: tuple[str, ...] = ()
    # Sandbox institutions only: tell the sandbox bank Relink's (shifted) test clock.
    sandbox_clock: bool = False
    # Decoupled polling: how often the waiting page looks again.
    poll_interval_seconds: int = Field(default=3, ge=1, le=60)

    @field_validator("base_url")
    @classmethod
    def _base(cls, value: str) -> str:
        return _absolute_url(value).rstrip("/")

    @field_validator("oauth_authorize_url", "oauth_token_url")
    @classmethod
    def _oauth_urls(cls, value: str | None) -> str | None:
        return _absolute_url(value) if value is not None else None

    @field_validator("sca_redirect_origins")
    @classmethod
    def _origins(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(_absolute_url(origin) for origin in value)

    @field_validator("country")
    @classmethod
    def _country(cls, value: str | None) -> str | None:
        if value is not None and not _COUNTRY.match(value):
            raise ValueError("must be an ISO 3166-1 alpha-2 code such as 'DE'")
        return value

    @field_validator("bic")
    @classmethod
    def _bic(cls, value: str | None) -> str | None:
        if value is not None and not _BIC.match(value):
            raise ValueError("must be a BIC of 8 or 11 characters such as 'TESTDEFFXXX'")
        return value

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value

    @model_validator(mode="after")
    def _approaches(self) -> Self:
        if not self.sca_approaches:
            raise ValueError("sca_approaches: name at least one of redirect, oauth, decoupled")
        if len(set(self.sca_approaches)) != len(self.sca_approaches):
            raise ValueError("sca_approaches: each approach once")
        if ScaApproach.oauth in self.sca_approaches and self.oauth is None:
            raise ValueError(
                "the 'oauth' approach needs oauth_authorize_url, oauth_token_url "
                "and oauth_client_id"
            )
        return self

    @property
    def oauth(self) -> OAuthSettings | None:
        if not (self.oauth_authorize_url and self.oauth_token_url and self.oauth_client_id):
            return None
        return OAuthSettings(
            self.oauth_authorize_url, self.oauth_token_url, self.oauth_client_id, self.oauth_scope
        )

    @property
    def approach(self) -> ScaApproach:
        """The approach Relink asks for: the first one the bank offers."""
        return self.sca_approaches[0]

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @classmethod
    def parse(cls, settings: Mapping[str, Any]) -> Psd2Settings:
        """The settings, or SettingsInvalid naming every setting that is wrong."""
        # The mutual-TLS material is the service's to use, not a connector setting.
        own = {k: v for k, v in settings.items() if k not in _TLS_KEYS}
        try:
            return cls.model_validate(own)
        except ValidationError as error:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in item['loc']) or 'settings'}: {item['msg']}"
                for item in error.errors()
            )
            raise SettingsInvalid(f"nextgenpsd2 settings: {problems}") from None


def _absolute_url(value: str) -> str:
    if not re.match(r"^https?://[^/\s]+", value):
        raise ValueError("must be an absolute http(s) URL")
    return value
