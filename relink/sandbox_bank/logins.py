"""The credential login API for non-OAuth institutions."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from relink.sandbox_bank.challenges import (
    ChallengeKind,
    Outcome,
    challenge_in,
    parse_kind,
    password_outcome,
)
from relink.sandbox_bank.challenges import answer_outcome as _answer_outcome
from relink.sandbox_bank.data import accounts_for, login_reached, normalize_username
from relink.sandbox_bank.errors import BankError
from relink.sandbox_bank.grants import create_grant, ensure_available, known_institution
from relink.sandbox_bank.i18n import DEFAULT_LOCALE
from relink.sandbox_bank.institutions import SandboxInstitution
from relink.sandbox_bank.models import Login
from relink.sandbox_bank.store import hash_secret, new_secret

LOGIN_LIFETIME = timedelta(minutes=30)


def _challenge_body(login_id: str, kind: ChallengeKind, locale: str) -> dict[str, Any]:
    spec = challenge_in(kind, locale)
    return {
        "status": "challenge_required",
        "login_id": login_id,
        "challenge": {
            "kind": spec.kind,
            "prompt": spec.prompt,
            "options": list(spec.options),
            "hint": spec.hint,
        },
    }


def _conclude(
    session: Session,
    inst: SandboxInstitution,
    username: str,
    outcome: Outcome,
    now: datetime,
    *,
    login: Login | None,
    login_id: str | None = None,
    locale: str,
) -> dict[str, Any]:
    if outcome == "error":
        if login is not None:
            login.finished = True
        raise BankError(
            400,
            "login_failed",
            "The bank could not complete this sign-in.",
            reason="login_failed",
            commit=True,
        )
    if outcome == "incorrect":
        if login is None or login_id is None:
            raise BankError(
                401,
                "invalid_credentials",
                "The username or password is incorrect.",
                reason="invalid_credentials",
            )
        raise BankError(
            401,
            "incorrect_answer",
            "That answer is incorrect. Try again.",
            reason="incorrect_answer",
            extra=_challenge_body(login_id, challenge_kind(login), locale),
        )
    if outcome == "authenticated":
        if login is not None:
            login.finished = True
        accounts = [a.id for a in accounts_for(inst, username)]
        issued = create_grant(
            session,
            inst=inst,
            username=username,
            account_ids=accounts,
            client=None,
            scope="accounts balances ownership transactions payment_networks",
            now=now,
        )
        return {"status": "authenticated", **issued.response(now)}
    # a further challenge
    login_id = new_secret("sblogin")
    if login is not None:
        login.finished = True
    session.add(
        Login(
            id_hash=hash_secret(login_id),
            institution=inst.key,
            username=username,
            challenge_kind=outcome,
            options=list(challenge_in(outcome, locale).options),
            finished=False,
            created_at=now,
        )
    )
    return _challenge_body(login_id, outcome, locale)


def start_login(
    session: Session,
    *,
    institution_key: str,
    username: str,
    password: str,
    now: datetime,
    login_hint: str | None = None,
    locale: str = DEFAULT_LOCALE,
) -> dict[str, Any]:
    """A credential sign-in; `login_hint` names the login a relink reconnects (any
    username then reaches it, see `data.login_reached`); a challenge is asked in
    `locale`."""
    inst = known_institution(institution_key)
    if inst.auth_kind != "credentials":
        raise BankError(
            400, "invalid_request", f"{inst.display_name} signs in through OAuth, not here."
        )
    ensure_available(session, inst, now)
    if not normalize_username(username) or not password:
        raise BankError(400, "invalid_request", "username and password are required.")
    user = login_reached(username, login_hint)
    outcome = password_outcome(inst, password)
    return _conclude(session, inst, user, outcome, now, login=None, locale=locale)


def answer_challenge(
    session: Session,
    *,
    login_id: str,
    answer: str,
    now: datetime,
    locale: str = DEFAULT_LOCALE,
) -> dict[str, Any]:
    login = session.get(Login, hash_secret(login_id))
    if login is None or login.finished or login.created_at + LOGIN_LIFETIME <= now:
        raise BankError(404, "login_not_found", "This sign-in is unknown, finished or expired.")
    inst = known_institution(login.institution)
    ensure_available(session, inst, now)
    outcome = _answer_outcome(inst, challenge_kind(login), answer)
    return _conclude(
        session, inst, login.username, outcome, now, login=login, login_id=login_id, locale=locale
    )


def challenge_kind(login: Login) -> ChallengeKind:
    kind = parse_kind(login.challenge_kind)
    if kind is None:
        raise BankError(500, "server_error", "Corrupt login state.")
    return kind
