"""Signing in to the dashboard: passwords, throttling, login sessions, the mode switch,
email confirmation.

- A wrong email and a wrong password get the same answer after the same work (an
  unknown address is verified against a dummy hash), so sign-in does not reveal who
  has an account.
- Attempts are counted per email digest and per client address, committed before the
  password is checked; past a limit, sign-in is refused before any password is
  checked, known address or not.
- The browser holds a random token; the database holds its SHA-256 (``DashboardLogin``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import delete, exists, func, select
from sqlalchemy.orm import Session

from relink.kit import clock, ids
from relink.kit.crypto import (
    dummy_password_hash,
    hash_password,
    random_token,
    token_digest,
    verify_password,
)
from relink.models import Account, DashboardLogin, EmailConfirmation, LoginAttempt, Platform, User
from relink.tenancy import Scope

# A login session ends after this long without a request, and in any case after LIFETIME.
IDLE_TIMEOUT = dt.timedelta(hours=12)
LIFETIME = dt.timedelta(days=7)
# last_seen_at is written at most this often, so reading pages does not write every time.
TOUCH_EVERY = dt.timedelta(minutes=1)

THROTTLE_WINDOW = dt.timedelta(minutes=15)
MAX_FAILURES_PER_EMAIL = 5
MAX_FAILURES_PER_CLIENT = 100

CONFIRMATION_LIFETIME = dt.timedelta(days=7)
MIN_PASSWORD_LENGTH = 8


class SignInRefused(Exception):
    """Sign-in failed; the message is safe to show (it never says which part was wrong)."""


class SignInThrottled(SignInRefused):
    def __init__(self, retry_after: dt.timedelta) -> None:
        minutes = max(1, int(retry_after.total_seconds() // 60) + 1)
        super().__init__(
            f"Too many failed sign-in attempts. Please wait {minutes} minutes and try again."
        )
        self.retry_after = retry_after


WRONG_CREDENTIALS = "That email and password do not match. Please try again."


@dataclass(frozen=True)
class StartedLogin:
    login: DashboardLogin
    token: str


def email_digest(email: str) -> str:
    return token_digest(email.strip().lower())


@dataclass(frozen=True)
class SignInAttempt:
    """An attempt counted before its password is checked (see :func:`count_attempt`)."""

    id: str
    email_digest: str
    client: str


def count_attempt(db: Session, email: str, client: str) -> SignInAttempt:
    """Count a sign-in attempt; the caller commits it before the password is checked.

    Counting first, in its own transaction, is what makes the limit hold under parallel
    requests: each attempt's row is visible to every attempt that counts after it, so of
    N simultaneous attempts at most the limit get to the password check. The row stays
    as the failure if the check fails; a success clears the address's rows, and an
    attempt refused by the throttle takes its row back (:func:`forget_attempt`), so
    hammering a locked address does not keep it locked."""
    attempt = SignInAttempt(ids.new("lat"), email_digest(email), client[:64])
    db.add(
        LoginAttempt(
            id=attempt.id, email_digest=attempt.email_digest, client=attempt.client, at=clock.now()
        )
    )
    return attempt


def forget_attempt(db: Session, attempt: SignInAttempt) -> None:
    db.execute(delete(LoginAttempt).where(LoginAttempt.id == attempt.id))


def _throttle(db: Session, attempt: SignInAttempt, now: dt.datetime) -> None:
    """Refuse when this attempt is past a limit (the counts include the attempt itself)."""
    since = now - THROTTLE_WINDOW
    for column, value, limit in (
        (LoginAttempt.email_digest, attempt.email_digest, MAX_FAILURES_PER_EMAIL),
        (LoginAttempt.client, attempt.client, MAX_FAILURES_PER_CLIENT),
    ):
        count, oldest = db.execute(
            select(func.count(), func.min(LoginAttempt.at)).where(
                column == value, LoginAttempt.at > since
            )
        ).one()
        if count > limit:
            raise SignInThrottled(oldest + THROTTLE_WINDOW - now)


def check_password(db: Session, attempt: SignInAttempt, user: User | None, password: str) -> None:
    """:class:`SignInThrottled` past a limit, else one argon2 verification (also for an
    unknown address, so timing does not tell known addresses apart); a wrong password
    is :class:`SignInRefused`."""
    _throttle(db, attempt, clock.now())
    valid = verify_password(user.password_hash if user else dummy_password_hash(), password)
    if user is None or not valid:
        raise SignInRefused(WRONG_CREDENTIALS)


def check_credentials(db: Session, attempt: SignInAttempt, email: str, password: str) -> User:
    """The user with this email and password, or :class:`SignInRefused`."""
    user = db.scalars(select(User).where(User.email == email.strip().lower())).first()
    check_password(db, attempt, user, password)
    assert user is not None
    return user


def platform_has_live_data(db: Session, platform_id: str) -> bool:
    return bool(
        db.scalar(
            select(exists().where(Account.platform_id == platform_id, Account.livemode.is_(True)))
        )
    )


def start_login(db: Session, user: User) -> StartedLogin:
    """A new login session for ``user``, opening in the mode they used last (or, the
    first time, live mode only if the platform has live data)."""
    now = clock.now()
    livemode = user.last_livemode
    if livemode is None:
        livemode = platform_has_live_data(db, user.platform_id)
    token = random_token()
    login = DashboardLogin(
        id=ids.new("dlog"),
        token_digest=token_digest(token),
        user_id=user.id,
        platform_id=user.platform_id,
        livemode=livemode,
        created_at=now,
        last_seen_at=now,
        expires_at=now + LIFETIME,
    )
    db.add(login)
    # Successful sign-in clears this address's failure count.
    db.execute(delete(LoginAttempt).where(LoginAttempt.email_digest == email_digest(user.email)))
    return StartedLogin(login, token)


@dataclass(frozen=True)
class SignedIn:
    login: DashboardLogin
    user: User
    platform: Platform

    @property
    def scope(self) -> Scope:
        return Scope(
            platform_id=self.platform.id,
            livemode=self.login.livemode,
            clock_offset_seconds=0
            if self.login.livemode
            else self.platform.test_clock_offset_seconds,
        )


def find_login(db: Session, token: str | None) -> SignedIn | None:
    """The live login session for a cookie token; touches ``last_seen_at`` now and then."""
    if not token or len(token) > 200:
        return None
    row = db.execute(
        select(DashboardLogin, User, Platform)
        .join(User, User.id == DashboardLogin.user_id)
        .join(Platform, Platform.id == DashboardLogin.platform_id)
        .where(DashboardLogin.token_digest == token_digest(token))
    ).first()
    if row is None:
        return None
    login, user, platform = row
    now = clock.now()
    if (
        login.ended_at is not None
        or login.expires_at <= now
        or login.last_seen_at + IDLE_TIMEOUT <= now
        or user.platform_id != login.platform_id
    ):
        return None
    if now - login.last_seen_at >= TOUCH_EVERY:
        login.last_seen_at = now
    return SignedIn(login, user, platform)


def end_login(db: Session, login_id: str) -> None:
    login = db.get(DashboardLogin, login_id)
    if login is not None and login.ended_at is None:
        login.ended_at = clock.now()


def switch_mode(db: Session, signed_in: SignedIn, livemode: bool) -> None:
    """Show the other mode's data from now on, and remember the choice for next sign-in."""
    login = db.get(DashboardLogin, signed_in.login.id)
    user = db.get(User, signed_in.user.id)
    assert login is not None and user is not None
    login.livemode = livemode
    user.last_livemode = livemode


# -- email confirmation -------------------------------------------------------------------


def create_confirmation(db: Session, user: User, *, invitation: bool = False) -> str:
    """A new confirmation link token for ``user`` (returned once; only its digest is kept).

    An ``invitation`` link also asks the user to choose their first password."""
    now = clock.now()
    token = random_token()
    db.add(
        EmailConfirmation(
            id=ids.new("econf"),
            user_id=user.id,
            token_digest=token_digest(token),
            invitation=invitation,
            created_at=now,
            expires_at=now + CONFIRMATION_LIFETIME,
        )
    )
    return token


class ConfirmationInvalid(Exception):
    pass


def pending_confirmation(db: Session, token: str) -> tuple[EmailConfirmation, User]:
    row = db.execute(
        select(EmailConfirmation, User)
        .join(User, User.id == EmailConfirmation.user_id)
        .where(EmailConfirmation.token_digest == token_digest(token))
    ).first()
    if row is None or row[0].used_at is not None or row[0].expires_at <= clock.now():
        raise ConfirmationInvalid(
            "This confirmation link is invalid or has expired. Ask the platform owner for a new one."
        )
    return row[0], row[1]


def confirm_email(db: Session, token: str, new_password: str | None) -> User:
    """Confirm the address; an invited user (who has no password yet) sets one here."""
    confirmation, user = pending_confirmation(db, token)
    if new_password is not None:
        if len(new_password) < MIN_PASSWORD_LENGTH:
            raise ValueError(f"Use at least {MIN_PASSWORD_LENGTH} characters.")
        user.password_hash = hash_password(new_password)
    now = clock.now()
    confirmation.used_at = now
    if user.email_confirmed_at is None:
        user.email_confirmed_at = now
    return user
