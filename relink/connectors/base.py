"""The connector interface: what Relink asks of a bank, and what a bank may answer.

A connector adapts one kind of institution. Its methods are synchronous (httpx under the
hood) so the worker calls them directly and web views call them in a thread.

Errors say what to do by their *type* (`AccessExpired`, `InstitutionDown`, ...); callers
never look at message text.

Grants are secrets. `Grant` is deliberately mutable: a data call may rotate the tokens
inside it (an expired access token is refreshed transparently). After any call the
caller checks `grant.rotated` and, when true, persists `grant.serialize()` again and
calls `grant.mark_persisted()`. `repr(grant)` never shows the secrets.
"""

from __future__ import annotations

import enum
import json
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal, Protocol

__all__ = [
    "AccessDenied",
    "AccessExpired",
    "AccountCategory",
    "AccountClosed",
    "AccountUnavailable",
    "Balance",
    "BankAccount",
    "BankServerError",
    "Challenge",
    "ChallengeKind",
    "ChallengeRequired",
    "Connector",
    "ConnectorError",
    "CredentialForm",
    "Grant",
    "Health",
    "IncorrectAnswer",
    "InstitutionDown",
    "InstitutionRequirement",
    "InvalidConnectorSettings",
    "InvalidCredentials",
    "Owner",
    "PsuContext",
    "RateLimited",
    "Redirect",
    "SignInCancelled",
    "Tan",
    "TanStatus",
    "Transaction",
    "Unexpected",
    "Waiting",
]


# --------------------------------------------------------------------------- errors


class ConnectorError(Exception):
    """Base of every error a connector raises. The type says what to do.

    `bank_codes` are the machine-readable codes the bank sent with the failure (e.g.
    NextGenPSD2 `tppMessages` codes): safe for logs and failure details, never personal
    data (a bank's free text is not carried)."""

    bank_codes: tuple[str, ...] = ()


class AccessExpired(ConnectorError):
    """The bank's consent expired (or needs renewal): the holder must relink."""


class AccessDenied(ConnectorError):
    """The holder or the bank revoked the consent: the holder must relink."""


class AccountClosed(ConnectorError):
    """The account no longer exists at the bank: nothing to repair."""


class AccountUnavailable(ConnectorError):
    """The account exists but is not shared or is locked for now."""


class InstitutionRequirement(ConnectorError):
    """The bank requires something of the holder (terms, a new agreement, ...)."""


class InstitutionDown(ConnectorError):
    """The bank is unavailable. Retry later; never deactivate for this."""

    def __init__(self, message: str, *, retry_after: int | None, scheduled: bool) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.scheduled = scheduled


class RateLimited(ConnectorError):
    """The bank refused for now because Relink asked too often (e.g. the consent's
    `frequencyPerDay`). Back off until `retry_after` seconds; never deactivate, and the
    institution is not unhealthy for it."""

    def __init__(self, message: str, *, retry_after: int | None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class SignInCancelled(ConnectorError):
    """The holder cancelled at the bank (its page or app): they may try again."""


class InvalidCredentials(ConnectorError):
    """The username/password was refused; the holder may retry."""


class IncorrectAnswer(InvalidCredentials):
    """A challenge answer was refused; `challenge` is the same challenge, to retry."""

    def __init__(self, message: str, *, challenge: Challenge) -> None:
        super().__init__(message)
        self.challenge = challenge


class ChallengeRequired(ConnectorError):
    """The bank wants an interactive step (e.g. MFA) before it shares data again."""


class Unexpected(ConnectorError):
    """The bank or the connector failed in a way nobody planned for."""


class BankServerError(Unexpected):
    """The bank answered with a server error (HTTP 5xx) where it has no way to say it is
    down: unexpected for the call, and a sign of trouble at the bank (its health)."""


class InvalidConnectorSettings(ValueError):
    """An institution's settings do not suit its connector; the message says which and why.

    Raised by a connector's ``check_settings`` while an operator configures an institution,
    never while serving one. The message names setting keys, never secret values.
    """


# --------------------------------------------------------------------------- data


class Health(enum.StrEnum):
    active = "active"
    degraded = "degraded"
    inactive = "inactive"


class TanStatus(enum.StrEnum):
    pending = "pending"
    transactable = "transactable"
    expired = "expired"
    deactivated = "deactivated"


AccountCategory = Literal["cash", "credit", "investment", "other"]
ChallengeKind = Literal["one_time_code", "confirm_code", "options", "security_question"]


@dataclass(frozen=True, slots=True)
class BankAccount:
    """One account as the bank shares it. `stable_id` never changes across relinks."""

    stable_id: str
    display_name: str
    last4: str
    category: AccountCategory
    subcategory: str
    routing_number: str | None
    currency: str = "usd"
    supports_ach: bool = True


@dataclass(frozen=True, slots=True)
class Tan:
    """A payment-network number (tokenized or not) usable for ACH when transactable."""

    number: str
    routing_number: str
    status: TanStatus
    expected_expiry_date: datetime | None


@dataclass(frozen=True, slots=True)
class Balance:
    """Money in minor units per currency, as Stripe sends it."""

    as_of: datetime
    current: dict[str, int]
    available: dict[str, int] | None
    kind: Literal["cash", "credit"]


@dataclass(frozen=True, slots=True)
class Owner:
    name: str
    email: str | None
    phone: str | None
    raw_address: str | None


@dataclass(frozen=True, slots=True)
class Transaction:
    stable_id: str
    amount: int
    currency: str
    description: str
    status: Literal["pending", "posted"]
    transacted_at: datetime
    posted_at: datetime | None


@dataclass(frozen=True, slots=True)
class Redirect:
    """Send the holder to `url`; keep `state`, `code_verifier` and `carried` server-side.

    `carried` is what the connector needs back when the holder returns (a consent id,
    ...): secrets, sealed in the flow, handed to `complete_return`."""

    url: str
    state: str
    code_verifier: str
    carried: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Waiting:
    """The holder approves elsewhere (the bank's app: decoupled SCA). Show a waiting page
    and call `poll` again after `poll_after_seconds`; `carried` is sealed in the flow."""

    carried: Mapping[str, str]
    poll_after_seconds: int = 3


@dataclass(frozen=True, slots=True)
class CredentialForm:
    """Show a username/password form; submit it with `submit_credentials`."""

    username_label: str = "Username"
    password_label: str = "Password"
    hint: str | None = None


@dataclass(frozen=True, slots=True)
class Challenge:
    """A question the bank asks during a credential login.

    `continuation` is an opaque secret naming the login at the bank; keep it server-side
    and hand the whole challenge back to `answer_challenge`.
    """

    kind: ChallengeKind
    prompt: str
    continuation: str
    options: tuple[str, ...] = ()
    hint: str | None = None

    def __repr__(self) -> str:
        return f"Challenge(kind={self.kind!r}, prompt={self.prompt!r}, options={self.options!r})"

    def to_dict(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "prompt": self.prompt,
            "continuation": self.continuation,
            "options": list(self.options),
            "hint": self.hint,
        }

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> Challenge:
        options = data.get("options") or []
        hint = data.get("hint")
        kind = str(data["kind"])
        if kind not in ("one_time_code", "confirm_code", "options", "security_question"):
            raise ValueError(f"unknown challenge kind {kind!r}")
        return cls(
            kind=kind,  # type: ignore[arg-type]  # checked just above
            prompt=str(data["prompt"]),
            continuation=str(data["continuation"]),
            options=tuple(str(o) for o in options) if isinstance(options, list) else (),
            hint=str(hint) if hint is not None else None,
        )


@dataclass(eq=True, slots=True)
class Grant:
    """The secrets of one consent at one bank, plus what the bank said about its lifetime.

    Mutable on purpose: connectors replace `secrets` when they refresh tokens and set
    `rotated`; the caller persists and calls `mark_persisted()`.
    """

    secrets: dict[str, str]
    expected_deactivation_date: datetime | None = None
    rotated: bool = field(default=False, compare=False)
    # The bank-side login the holder signed in to, when the bank says (the sandbox bank
    # does); Relink keeps it as the authorization's ``bank_user``. Not a secret, not stored
    # in the grant.
    login: str | None = field(default=None, compare=False)

    def __repr__(self) -> str:
        return (
            f"Grant(<{len(self.secrets)} secrets redacted>, "
            f"expected_deactivation_date={self.expected_deactivation_date!r})"
        )

    __str__ = __repr__

    def replace_secrets(self, secrets: dict[str, str]) -> None:
        if secrets != self.secrets:
            self.secrets = dict(secrets)
            self.rotated = True

    def mark_persisted(self) -> None:
        self.rotated = False

    def serialize(self) -> bytes:
        """Plain JSON; the core encrypts these bytes before storing them."""
        edd = self.expected_deactivation_date
        return json.dumps(
            {
                "secrets": self.secrets,
                "expected_deactivation_date": int(edd.timestamp()) if edd else None,
            },
            sort_keys=True,
        ).encode()

    @classmethod
    def deserialize(cls, raw: bytes) -> Grant:
        data = json.loads(raw)
        edd = data.get("expected_deactivation_date")
        return cls(
            secrets={str(k): str(v) for k, v in data["secrets"].items()},
            expected_deactivation_date=datetime.fromtimestamp(edd, UTC) if edd else None,
        )


@dataclass(frozen=True, slots=True)
class PsuContext:
    """The holder's own request, when the holder is present (PSD2's "PSU").

    Connectors forward these to banks that want them (``PSU-IP-Address``...). Unattended
    (background) access has no context at all: nothing is ever invented for it.
    """

    ip_address: str
    user_agent: str | None = None
    accept_language: str | None = None


# --------------------------------------------------------------------------- interface


class Connector(ABC):
    """One institution's adapter. Build one per institution (and per sandbox clock)."""

    #: Whether hosted relink can repair this institution's connections in place.
    supports_relink: bool = True

    #: Whether a relink must end the consent it replaces (at the bank, after the new one
    #: is in place, through the outbox). Where the bank keeps one consent per holder (the
    #: sandbox's OAuth tokens) ending the old one could end the new one too.
    ends_replaced_grant: bool = False

    @abstractmethod
    def begin_auth(
        self,
        *,
        state: str,
        redirect_uri: str,
        accounts: Sequence[str] = (),
        login_hint: str | None = None,
        locale: str | None = None,
    ) -> Redirect | CredentialForm | Waiting:
        """Start an authentication: a bank redirect (OAuth), a form to show (credentials),
        or a wait while the holder approves in the bank's app.

        `accounts` are the stable ids a relink asks access to again (empty: the holder
        chooses at the bank); `login_hint` the bank-side login a relink repairs, when
        Relink knows it (OpenID Connect's ``login_hint``; a bank may ignore it); `locale`
        the holder's language, for the bank's pages (OpenID Connect's ``ui_locales``)."""

    @abstractmethod
    def complete_oauth(self, *, code: str, code_verifier: str, redirect_uri: str) -> Grant:
        """Exchange the authorization code from the bank's callback for a grant."""

    def complete_return(
        self,
        *,
        params: Mapping[str, str],
        carried: Mapping[str, str],
        redirect_uri: str,
        next_state: str,
    ) -> Grant | Redirect | Waiting:
        """The holder came back from the bank's page with the callback's query `params`.

        The default is OAuth's: `error=access_denied` or no `code` is a cancel
        (SignInCancelled), another `error` a failure, else the code is exchanged. A
        connector may ask for another step: a further redirect (bound to `next_state`)
        or a wait."""
        error, code = params.get("error"), params.get("code")
        if error == "access_denied" or (error is None and not code):
            raise SignInCancelled("the holder cancelled at the bank")
        if error is not None:
            raise Unexpected(f"bank answered the authorization with {error!r}")
        return self.complete_oauth(
            code=code or "",
            code_verifier=str(carried.get("code_verifier", "")),
            redirect_uri=redirect_uri,
        )

    def authorization_origins(self) -> list[str]:
        """The origins of the bank pages `begin_auth` may redirect the holder to (the
        hosted pages allow their forms to lead there)."""
        return []

    def poll(self, *, carried: Mapping[str, str]) -> Grant | Waiting:
        """Look again whether the holder approved a decoupled authorisation."""
        raise Unexpected("this institution does not authorise in the bank's app")

    @abstractmethod
    def submit_credentials(
        self,
        *,
        username: str,
        password: str,
        login_hint: str | None = None,
        locale: str | None = None,
    ) -> Grant | Challenge:
        """Log in with credentials. Raises InvalidCredentials (retry) or Unexpected (give up).

        `login_hint` is the bank-side login a relink repairs (as for `begin_auth`); the
        bank asks its challenges in `locale` (the holder's language) where it can."""

    @abstractmethod
    def answer_challenge(
        self, challenge: Challenge, answer: str, *, locale: str | None = None
    ) -> Grant | Challenge:
        """Answer a challenge. Raises IncorrectAnswer (carrying the challenge to retry);
        a further challenge is asked in `locale` where the bank can."""

    @abstractmethod
    def list_accounts(self, grant: Grant) -> list[BankAccount]:
        """The accounts this grant shares now."""

    @abstractmethod
    def account_numbers(self, grant: Grant, account_stable_id: str) -> list[Tan]:
        """The payment-network numbers of one account (empty when it cannot do ACH)."""

    @abstractmethod
    def refresh_balance(self, grant: Grant, account_stable_id: str) -> Balance: ...

    @abstractmethod
    def refresh_ownership(self, grant: Grant, account_stable_id: str) -> list[Owner]: ...

    @abstractmethod
    def refresh_transactions(
        self, grant: Grant, account_stable_id: str, *, since: datetime | None = None
    ) -> list[Transaction]: ...

    @abstractmethod
    def consent_expiry(self, grant: Grant) -> datetime | None:
        """When the bank will end this consent (Stripe's expected_deactivation_date)."""

    @abstractmethod
    def revoke(self, grant: Grant) -> None:
        """End the consent at the bank. Revoking an already revoked grant is not an error."""

    @abstractmethod
    def health(self) -> Health:
        """Live health of the institution; never raises."""

    def sandbox_controls(self) -> SandboxControls | None:
        """The test-mode controls of a bank that offers them (the sandbox bank); None for
        a real bank. Test helpers ask this instead of checking the connector's class."""
        return None


class SandboxControls(Protocol):
    """What a sandbox bank lets Relink's test helpers do at the bank."""

    def create_test_grant(
        self,
        *,
        username: str,
        account_stable_ids: list[str] | None = None,
        reauthentication: bool = False,
    ) -> Grant: ...

    def deactivate_test_grant(
        self, grant: Grant, cause: str, *, account_stable_id: str | None = None
    ) -> None: ...

    def update_test_account_numbers(
        self,
        grant: Grant,
        account_stable_id: str,
        *,
        status: str | None = None,
        expected_expiry_date: datetime | None = None,
    ) -> None: ...

    def set_test_outage(self, health: Health) -> None:
        """Put the institution down (``inactive``), ``degraded`` or back up (``active``)."""
        ...

    def account_numbers(self, grant: Grant, account_stable_id: str) -> list[Tan]: ...

    def health(self) -> Health: ...
