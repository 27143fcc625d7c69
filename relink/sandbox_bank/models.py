"""The sandbox bank's own tables, on its own metadata (never Relink's).

Every table is prefixed `sandbox_bank_`. Tokens and codes are stored as SHA-256 hashes.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, ForeignKey, Integer, MetaData, String, TypeDecorator
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class UTCDateTime(TypeDecorator[datetime]):
    """Stores UTC, refuses naive datetimes, hands back aware ones (SQLite forgets zones)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime refused; use an aware UTC datetime")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(column_0_label)s",
            "uq": "uq_%(table_name)s_%(column_0_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )


class Setting(Base):
    __tablename__ = "sandbox_bank_settings"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(256))


class Client(Base):
    """An app allowed to ask for consent (Relink is one)."""

    __tablename__ = "sandbox_bank_clients"

    client_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    secret_hash: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    redirect_uris: Mapped[list[str]] = mapped_column(JSON, default=list)
    # The built-in sandbox client: it returns to the redirect URIs the bank was started
    # with (its host app's callbacks), not to ``redirect_uris``; never to any other.
    any_redirect_uri: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class AuthorizeFlow(Base):
    """One run of the authorize pages: login → (MFA) → account picker → consent."""

    __tablename__ = "sandbox_bank_authorize_flows"

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    client_id: Mapped[str] = mapped_column(ForeignKey("sandbox_bank_clients.client_id"))
    redirect_uri: Mapped[str] = mapped_column(String(2000))
    state: Mapped[str | None] = mapped_column(String(500))
    code_challenge: Mapped[str] = mapped_column(String(128))
    scope: Mapped[str] = mapped_column(String(500))
    institution: Mapped[str] = mapped_column(String(64))
    step: Mapped[str] = mapped_column(String(16))  # login | challenge | accounts | consent | done
    challenge_kind: Mapped[str | None] = mapped_column(String(32))
    username: Mapped[str | None] = mapped_column(String(200))
    account_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # The login the app is reconnecting (``login_hint``); see data.login_reached.
    login_hint: Mapped[str | None] = mapped_column(String(200), default=None)
    # The language the app asked the pages to speak (``ui_locales``), if the bank has it.
    locale: Mapped[str | None] = mapped_column(String(10), default=None)


class AuthorizationCode(Base):
    __tablename__ = "sandbox_bank_authorization_codes"

    code_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    client_id: Mapped[str] = mapped_column(ForeignKey("sandbox_bank_clients.client_id"))
    redirect_uri: Mapped[str] = mapped_column(String(2000))
    code_challenge: Mapped[str] = mapped_column(String(128))
    scope: Mapped[str] = mapped_column(String(500))
    institution: Mapped[str] = mapped_column(String(64))
    username: Mapped[str] = mapped_column(String(200))
    account_ids: Mapped[list[str]] = mapped_column(JSON)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)  # wall-clock, not sandbox time
    grant_id: Mapped[str | None] = mapped_column(String(40))  # set once exchanged


class Grant(Base):
    """One consent of one bank user to one app (or one credential login)."""

    __tablename__ = "sandbox_bank_grants"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # oauth | credentials
    client_id: Mapped[str | None] = mapped_column(String(64))
    app_name: Mapped[str] = mapped_column(String(200))
    institution: Mapped[str] = mapped_column(String(64), index=True)
    username: Mapped[str] = mapped_column(String(200), index=True)
    account_ids: Mapped[list[str]] = mapped_column(JSON)
    scope: Mapped[str] = mapped_column(String(500), default="")
    sequence: Mapped[int] = mapped_column(Integer)  # 1 = the user's first authentication
    authenticated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    deactivate_on_refresh: Mapped[bool] = mapped_column(Boolean, default=False)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_by: Mapped[str | None] = mapped_column(String(16))  # holder | app
    # set by the test-helper API: access_denied | access_expired | mfa_required |
    # institution_requirement
    deactivated_cause: Mapped[str | None] = mapped_column(String(32))
    closed_account_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    unavailable_account_ids: Mapped[list[str]] = mapped_column(JSON, default=list)


class Token(Base):
    __tablename__ = "sandbox_bank_tokens"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    grant_id: Mapped[str] = mapped_column(ForeignKey("sandbox_bank_grants.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # access | refresh | session
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Login(Base):
    """A credential login waiting for a challenge answer."""

    __tablename__ = "sandbox_bank_logins"

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    institution: Mapped[str] = mapped_column(String(64))
    username: Mapped[str] = mapped_column(String(200))
    challenge_kind: Mapped[str] = mapped_column(String(32))
    options: Mapped[list[str]] = mapped_column(JSON, default=list)
    finished: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class TanOverride(Base):
    """A TAN changed through the test-helper API (status and/or expiry)."""

    __tablename__ = "sandbox_bank_tan_overrides"

    grant_id: Mapped[str] = mapped_column(ForeignKey("sandbox_bank_grants.id"), primary_key=True)
    account_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    status: Mapped[str | None] = mapped_column(String(16))
    expected_expiry_date: Mapped[datetime | None] = mapped_column(UTCDateTime)


# ---------------------------------------------------------------------- NextGenPSD2


class Psd2Consent(Base):
    """An AIS consent at one of the bank's NextGenPSD2 ASPSPs (`psd2/`)."""

    __tablename__ = "sandbox_bank_psd2_consents"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    aspsp: Mapped[str] = mapped_column(String(32), index=True)
    status: Mapped[str] = mapped_column(String(24))
    # the request's `access` as sent; `ibans` what the consent covers (set at SCA when
    # the request was a bank-offered consent)
    access: Mapped[dict[str, Any]] = mapped_column(JSON)
    bank_offered: Mapped[bool] = mapped_column(Boolean)
    ibans: Mapped[list[str]] = mapped_column(JSON, default=list)
    balance_ibans: Mapped[list[str]] = mapped_column(JSON, default=list)
    transaction_ibans: Mapped[list[str]] = mapped_column(JSON, default=list)
    recurring: Mapped[bool] = mapped_column(Boolean)
    valid_until: Mapped[str] = mapped_column(String(10))  # ISO date, inclusive
    frequency_per_day: Mapped[int] = mapped_column(Integer)
    combined_service: Mapped[bool] = mapped_column(Boolean)
    psu_id: Mapped[str | None] = mapped_column(String(200))  # the PSU-ID header, if sent
    username: Mapped[str | None] = mapped_column(String(200), index=True)  # once authorised
    redirect_uri: Mapped[str | None] = mapped_column(String(2000))
    nok_redirect_uri: Mapped[str | None] = mapped_column(String(2000))
    last_action_date: Mapped[str] = mapped_column(String(10))
    # unattended reads per UTC day: {"2027-01-15": {"<resourceId>|balances": 2}}
    usage: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status_changed_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Psd2Authorisation(Base):
    """One authorisation (SCA) of a consent; redirect ones carry the page flow."""

    __tablename__ = "sandbox_bank_psd2_authorisations"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    consent_id: Mapped[str] = mapped_column(ForeignKey("sandbox_bank_psd2_consents.id"), index=True)
    approach: Mapped[str] = mapped_column(String(16))  # REDIRECT | DECOUPLED
    sca_status: Mapped[str] = mapped_column(String(24))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Psd2PageFlow(Base):
    """The holder's walk through the SCA pages: a consent's redirect authorisation or
    the OAuth2 pre-step's authorize request. Identified by a secret in the page URL."""

    __tablename__ = "sandbox_bank_psd2_page_flows"

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    aspsp: Mapped[str] = mapped_column(String(32))
    authorisation_id: Mapped[str | None] = mapped_column(String(40))
    # OAuth2 pre-step: where the code goes back to
    oauth_client_id: Mapped[str | None] = mapped_column(String(200))
    oauth_redirect_uri: Mapped[str | None] = mapped_column(String(2000))
    oauth_state: Mapped[str | None] = mapped_column(String(500))
    oauth_code_challenge: Mapped[str | None] = mapped_column(String(128))
    oauth_scope: Mapped[str | None] = mapped_column(String(500))
    step: Mapped[str] = mapped_column(String(16))  # login | method | code | accounts | done
    username: Mapped[str | None] = mapped_column(String(200))
    sca_method: Mapped[str | None] = mapped_column(String(32))
    failed_codes: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Psd2Token(Base):
    """OAuth2 pre-step codes and tokens (hashed): the holder behind them, their expiry."""

    __tablename__ = "sandbox_bank_psd2_tokens"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # code | access | refresh
    aspsp: Mapped[str] = mapped_column(String(32))
    client_id: Mapped[str] = mapped_column(String(200))
    username: Mapped[str] = mapped_column(String(200))
    ibans: Mapped[list[str]] = mapped_column(JSON, default=list)  # chosen at the pre-step
    redirect_uri: Mapped[str | None] = mapped_column(String(2000))
    code_challenge: Mapped[str | None] = mapped_column(String(128))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used: Mapped[bool] = mapped_column(Boolean, default=False)
