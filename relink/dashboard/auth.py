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

from sqlalchemy import delete, exists, func, select, update
from sqlalchemy.orm import Session

from relink.email.account import (
    PASSWORD_RESET,
    TEAM_INVITATION,
    link_token,
    queue_invitation,
    queue_password_reset,
)
from relink.kit import clock, ids
from relink.kit.crypto import (
    dummy_password_hash,
    hash_password,
    random_token,
    token_digest,
    verify_password,
)
from relink.kit.i18n import N_, Message, Mn_
from relink.kit.passwords import (
    MAX_LENGTH,
    MIN_LENGTH,
    PREDICTABLE,
    TOO_LONG,
    TOO_SHORT,
    password_problem,
)
from relink.models import (
    Account,
    DashboardLogin,
    EmailConfirmation,
    LoginAttempt,
    PasswordReset,
    Platform,
    User,
)
from relink.runtime import Runtime
from relink.tenancy import Scope, platform_scope

# A login session ends after this long without a request, and in any case after LIFETIME.
IDLE_TIMEOUT = dt.timedelta(hours=12)
LIFETIME = dt.timedelta(days=7)
# last_seen_at is written at most this often, so reading pages does not write every time.
TOUCH_EVERY = dt.timedelta(minutes=1)

THROTTLE_WINDOW = dt.timedelta(minutes=15)
MAX_FAILURES_PER_EMAIL = 5
MAX_FAILURES_PER_CLIENT = 100

CONFIRMATION_LIFETIME = dt.timedelta(days=7)
RESET_LIFETIME = dt.timedelta(hours=1)
# Reset emails one user can be sent per RESET_WINDOW (more requests are answered the
# same way and send nothing).
RESETS_PER_WINDOW = 3
RESET_WINDOW = dt.timedelta(hours=1)


# The password rules' refusals as the dashboard words them (``relink.kit.passwords`` says
# them in English, for the CLI): the English source here, translated where shown.
PASSWORD_REFUSALS: dict[str, str | Message] = {
    TOO_SHORT: Mn_(
        "Use at least %(num)d character.", "Use at least %(num)d characters.", MIN_LENGTH
    ),
    TOO_LONG: Mn_("Use at most %(num)d character.", "Use at most %(num)d characters.", MAX_LENGTH),
    PREDICTABLE: N_(
        "This password is too easy to guess (a repeated pattern, a run of letters, digits or "
        "keys, or your email address). A few unrelated words make a good password."
    ),
}


class PasswordRejected(ValueError):
    """The new password does not meet the password rules; ``message`` says why (a
    catalogue message, worded in the page's language where it is shown)."""

    def __init__(self, problem: str) -> None:
        super().__init__(problem)
        self.message: str | Message = PASSWORD_REFUSALS.get(problem, problem)


def check_new_password(password: str, *, email: str) -> None:
    if (problem := password_problem(password, email=email)) is not None:
        raise PasswordRejected(problem)


class SignInRefused(Exception):
    """Sign-in failed; the message is safe to show (it never says which part was wrong)."""

    @property
    def message(self) -> str | Message:
        return str(self)


class SignInThrottled(SignInRefused):
    def __init__(self, retry_after: dt.timedelta) -> None:
        minutes = max(1, int(retry_after.total_seconds() // 60) + 1)
        super().__init__(
            f"Too many failed sign-in attempts. Please wait {minutes} minutes and try again."
        )
        self.retry_after = retry_after
        self.minutes = minutes

    @property
    def message(self) -> str | Message:
        return Mn_(
            "Too many failed sign-in attempts. Please wait %(num)d minute and try again.",
            "Too many failed sign-in attempts. Please wait %(num)d minutes and try again.",
            self.minutes,
        )


WRONG_CREDENTIALS = N_("That email and password do not match. Please try again.")


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
        return platform_scope(
            self.platform.id, self.login.livemode, self.platform.test_clock_offset_seconds
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


def create_confirmation(
    db: Session, runtime: Runtime, user: User, *, invitation: bool = False
) -> EmailConfirmation:
    """A new confirmation link for ``user``, emailed to their address (only the link's
    digest is stored; the email carries the link, and nothing else shows it).

    An ``invitation`` link also asks the user to choose their first password."""
    now = clock.now()
    row_id = ids.new("econf")
    confirmation = EmailConfirmation(
        id=row_id,
        user_id=user.id,
        token_digest=token_digest(link_token(runtime, TEAM_INVITATION, row_id)),
        invitation=invitation,
        created_at=now,
        expires_at=now + CONFIRMATION_LIFETIME,
    )
    db.add(confirmation)
    db.flush()
    queue_invitation(db, confirmation, user)
    return confirmation


class ConfirmationInvalid(Exception):
    pass


def pending_confirmation(
    db: Session, token: str, *, lock: bool = False
) -> tuple[EmailConfirmation, User]:
    query = (
        select(EmailConfirmation, User)
        .join(User, User.id == EmailConfirmation.user_id)
        .where(EmailConfirmation.token_digest == token_digest(token))
    )
    row = db.execute(query.with_for_update() if lock else query).first()
    if row is None or row[0].used_at is not None or row[0].expires_at <= clock.now():
        raise ConfirmationInvalid(
            N_(
                "This confirmation link is invalid or has expired. "
                "Ask the platform owner for a new one."
            )
        )
    return row[0], row[1]


def confirm_email(db: Session, token: str, new_password: str | None) -> User:
    """Confirm the address; an invited user (who has no password yet) sets one here."""
    confirmation, user = pending_confirmation(db, token, lock=True)
    if confirmation.invitation:
        check_new_password(new_password or "", email=user.email)
        user.password_hash = hash_password(new_password or "")
    now = clock.now()
    confirmation.used_at = now
    if user.email_confirmed_at is None:
        user.email_confirmed_at = now
    return user


# -- password change and reset ---------------------------------------------------------------


def change_password(
    db: Session, attempt: SignInAttempt, signed_in: SignedIn, current: str, new: str
) -> None:
    """Replace the signed-in user's password, ``current`` checked like a sign-in (counted
    and throttled with the address's attempts). Their other sign-ins end."""
    check_new_password(new, email=signed_in.user.email)
    user = db.scalars(select(User).where(User.id == signed_in.user.id).with_for_update()).one()
    check_password(db, attempt, user, current)
    user.password_hash = hash_password(new)
    now = clock.now()
    db.execute(
        update(DashboardLogin)
        .where(
            DashboardLogin.user_id == user.id,
            DashboardLogin.id != signed_in.login.id,
            DashboardLogin.ended_at.is_(None),
        )
        .values(ended_at=now)
    )
    db.execute(delete(LoginAttempt).where(LoginAttempt.email_digest == email_digest(user.email)))


class ResetInvalid(Exception):
    pass


RESET_INVALID = N_("This password reset link is invalid, used or expired. Ask for a new one.")


def request_password_reset(db: Session, runtime: Runtime, email: str) -> None:
    """Email a reset link if a team user has this address, at most
    :data:`RESETS_PER_WINDOW` per user per :data:`RESET_WINDOW`. The caller answers the
    same way whatever happened (no account enumeration)."""
    address = email.strip().lower()
    if not address or len(address) > 320:
        return
    # The user's row is locked so that parallel requests count each other's emails.
    user = db.scalars(select(User).where(User.email == address).with_for_update()).first()
    if user is None:
        return
    now = clock.now()
    recent = db.scalar(
        select(func.count())
        .select_from(PasswordReset)
        .where(PasswordReset.user_id == user.id, PasswordReset.created_at > now - RESET_WINDOW)
    )
    if (recent or 0) >= RESETS_PER_WINDOW:
        return
    row_id = ids.new("pwreset")
    reset = PasswordReset(
        id=row_id,
        user_id=user.id,
        token_digest=token_digest(link_token(runtime, PASSWORD_RESET, row_id)),
        created_at=now,
        expires_at=now + RESET_LIFETIME,
    )
    db.add(reset)
    db.flush()
    queue_password_reset(db, reset, user)


def pending_reset(db: Session, token: str, *, lock: bool = False) -> tuple[PasswordReset, User]:
    query = (
        select(PasswordReset, User)
        .join(User, User.id == PasswordReset.user_id)
        .where(PasswordReset.token_digest == token_digest(token))
    )
    row = db.execute(query.with_for_update() if lock else query).first()
    if row is None or row[0].used_at is not None or row[0].expires_at <= clock.now():
        raise ResetInvalid(RESET_INVALID)
    return row[0], row[1]


def reset_password(db: Session, token: str, new: str) -> User:
    """Set a new password through a reset link (once). Every sign-in of the user ends,
    their other reset links stop working, and their address counts as confirmed (the
    link reached it)."""
    _, user = pending_reset(db, token, lock=True)
    check_new_password(new, email=user.email)
    now = clock.now()
    user.password_hash = hash_password(new)
    if user.email_confirmed_at is None:
        user.email_confirmed_at = now
    db.execute(
        update(PasswordReset)
        .where(PasswordReset.user_id == user.id, PasswordReset.used_at.is_(None))
        .values(used_at=now)
    )
    db.execute(
        update(DashboardLogin)
        .where(DashboardLogin.user_id == user.id, DashboardLogin.ended_at.is_(None))
        .values(ended_at=now)
    )
    db.execute(delete(LoginAttempt).where(LoginAttempt.email_digest == email_digest(user.email)))
    return user
