"""The holder's SCA pages (redirect approach and the OAuth2 pre-step) as a service:
sign-in → choice of SCA method → one-time code → accounts → back to the TPP.

Any username and password sign in (the sandbox's users); the code is `123456`; three
wrong codes fail the authorisation. Cancel on any step rejects the consent (or answers
`error=access_denied` to the OAuth client).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlencode, urlsplit

from sqlalchemy.orm import Session

from relink.sandbox_bank.challenges import ONE_TIME_CODE
from relink.sandbox_bank.clock import wall_clock
from relink.sandbox_bank.data import normalize_username
from relink.sandbox_bank.i18n import N_
from relink.sandbox_bank.models import Psd2Authorisation, Psd2Consent, Psd2PageFlow, Psd2Token
from relink.sandbox_bank.psd2 import consents as service
from relink.sandbox_bank.psd2.aspsps import Psd2Aspsp, aspsp
from relink.sandbox_bank.psd2.data import Psd2Account, accounts_for
from relink.sandbox_bank.store import hash_secret, new_secret

FLOW_LIFETIME = timedelta(minutes=30)
CODE_LIFETIME = timedelta(minutes=10)
MAX_WRONG_CODES = 3
SCA_METHODS: dict[str, str] = {
    "sms_otp": N_("Text message to •••• 1234"),
    "push_otp": N_("pushTAN in the banking app"),
}
# Messages a page may show after a redirect (by key: nothing from the URL is echoed).
NOTICES: dict[str, str] = {
    "credentials": N_("Enter your username and password."),
    "method": N_("Choose how you want to confirm."),
    "code": N_("That code is not correct. Try again."),
    "accounts": N_("Choose at least one account to share."),
    "form_expired": N_("The form expired. Please try again."),
}


class FlowGone(Exception):
    """The page flow is unknown, expired or finished: nothing to return to."""


@dataclass(frozen=True, slots=True)
class Flow:
    row: Psd2PageFlow
    aspsp: Psd2Aspsp
    consent: Psd2Consent | None
    authorisation: Psd2Authorisation | None

    @property
    def is_oauth(self) -> bool:
        return self.row.oauth_redirect_uri is not None

    @property
    def return_uri(self) -> str:
        if self.is_oauth:
            return self.row.oauth_redirect_uri or ""
        assert self.consent is not None
        return self.consent.redirect_uri or ""


@dataclass(frozen=True, slots=True)
class Outcome:
    """Where the browser goes next: the same page (with a notice) or back to the TPP."""

    back_to_tpp: str | None = None
    notice: str | None = None


def load(session: Session, token: str) -> Flow:
    row = session.get(Psd2PageFlow, hash_secret(token)) if token else None
    if row is None or row.step == "done" or row.created_at + FLOW_LIFETIME <= wall_clock():
        raise FlowGone
    bank = aspsp(row.aspsp)
    assert bank is not None
    authorisation = session.get(Psd2Authorisation, row.authorisation_id or "")
    consent = session.get(Psd2Consent, authorisation.consent_id) if authorisation else None
    if not row.oauth_redirect_uri and (
        consent is None
        or authorisation is None
        or consent.status != "received"
        or authorisation.sca_status in ("finalised", "failed", "exempted")
    ):
        raise FlowGone
    return Flow(row, bank, consent, authorisation)


def valid_redirect_uri(uri: str) -> bool:
    parts = urlsplit(uri)
    return parts.scheme in ("http", "https") and bool(parts.netloc) and not parts.fragment


def start_pre_step(
    session: Session,
    bank: Psd2Aspsp,
    *,
    client_id: str,
    redirect_uri: str,
    state: str | None,
    code_challenge: str,
    scope: str,
) -> str:
    token = new_secret("psd2sca")
    session.add(
        Psd2PageFlow(
            id_hash=hash_secret(token),
            aspsp=bank.key,
            authorisation_id=None,
            oauth_client_id=client_id,
            oauth_redirect_uri=redirect_uri,
            oauth_state=state,
            oauth_code_challenge=code_challenge,
            oauth_scope=scope,
            step="login",
            failed_codes=0,
            created_at=wall_clock(),
        )
    )
    return token


def with_query(uri: str, params: dict[str, str | None]) -> str:
    query = urlencode({k: v for k, v in params.items() if v is not None})
    if not query:
        return uri
    return f"{uri}{'&' if urlsplit(uri).query else '?'}{query}"


def offered_accounts(flow: Flow) -> list[Psd2Account]:
    holder = accounts_for(flow.aspsp, flow.row.username or "")
    if flow.consent is None:
        return holder
    offered = set(service.offered_ibans(flow.aspsp, flow.consent, flow.row.username or ""))
    return [a for a in holder if a.iban in offered]


def cancel(flow: Flow, now: datetime) -> Outcome:
    flow.row.step = "done"
    if flow.is_oauth:
        return Outcome(
            with_query(
                flow.return_uri,
                {
                    "error": "access_denied",
                    "error_description": "The PSU cancelled.",
                    "state": flow.row.oauth_state,
                },
            )
        )
    assert flow.consent is not None and flow.authorisation is not None
    flow.authorisation.sca_status = "failed"
    service.set_status(flow.consent, "rejected", now)
    return Outcome(flow.consent.nok_redirect_uri or flow.return_uri)


def sign_in(flow: Flow, username: str, password: str) -> Outcome:
    user = normalize_username(username)
    if not user or not password:
        return Outcome(notice="credentials")
    named = flow.consent.psu_id if flow.consent is not None else None
    if named and normalize_username(named) != user:
        return Outcome(notice="credentials")  # the TPP named the PSU: only they may sign
    flow.row.username = user
    flow.row.step = "method"
    if flow.authorisation is not None:
        flow.authorisation.sca_status = "psuAuthenticated"
    return Outcome()


def choose_method(flow: Flow, method: str) -> Outcome:
    if method not in SCA_METHODS:
        return Outcome(notice="method")
    flow.row.sca_method = method
    flow.row.step = "code"
    if flow.authorisation is not None:
        flow.authorisation.sca_status = "scaMethodSelected"
    return Outcome()


def enter_code(flow: Flow, code: str, now: datetime) -> Outcome:
    if code.strip() != ONE_TIME_CODE:
        flow.row.failed_codes += 1
        if flow.row.failed_codes >= MAX_WRONG_CODES:
            return cancel(flow, now)
        return Outcome(notice="code")
    flow.row.step = "accounts"
    return Outcome()


def choose_accounts(session: Session, flow: Flow, chosen: list[str], now: datetime) -> Outcome:
    offered = [a.iban for a in offered_accounts(flow)]
    picked = [iban for iban in offered if iban in set(chosen)]
    if not picked:
        return Outcome(notice="accounts")
    flow.row.step = "done"
    username = flow.row.username or ""
    if flow.is_oauth:
        code = new_secret("psd2code")
        session.add(
            Psd2Token(
                token_hash=hash_secret(code),
                kind="code",
                aspsp=flow.aspsp.key,
                client_id=flow.row.oauth_client_id or "",
                username=username,
                ibans=picked,
                redirect_uri=flow.row.oauth_redirect_uri,
                code_challenge=flow.row.oauth_code_challenge,
                expires_at=wall_clock() + CODE_LIFETIME,
                used=False,
            )
        )
        return Outcome(with_query(flow.return_uri, {"code": code, "state": flow.row.oauth_state}))
    assert flow.consent is not None and flow.authorisation is not None
    service.grant_accounts(flow.consent, username, picked)
    flow.authorisation.sca_status = "finalised"
    service.set_status(flow.consent, "valid", now)
    return Outcome(flow.return_uri)
