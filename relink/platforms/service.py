"""Creating platforms, team users and API keys."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from relink.kit import clock, ids
from relink.kit.crypto import hash_password, token_digest
from relink.kit.email_address import is_email_address
from relink.kit.passwords import password_problem
from relink.kit.text import has_control_characters
from relink.models import ApiKey, Platform, Role, User


class PlatformError(ValueError):
    """A bad input to a platform or user operation; the message is shown as is."""


@dataclass(frozen=True)
class NewPlatform:
    platform: Platform
    owner: User
    owner_password: str
    test_secret_key: str
    live_secret_key: str


def new_secret_key(livemode: bool) -> str:
    return ("sk_live_" if livemode else "sk_test_") + secrets.token_urlsafe(32)


def create_api_key(
    session: Session, platform_id: str, livemode: bool, *, name: str | None = None
) -> tuple[ApiKey, str]:
    """Create a key; the plain key is returned once and only its digest is stored."""
    plain = new_secret_key(livemode)
    key = ApiKey(
        id=ids.new("key"),
        platform_id=platform_id,
        livemode=livemode,
        digest=token_digest(plain),
        redacted=plain[:8] + "…" + plain[-4:],
        name=name,
        created_at=clock.now(),
    )
    session.add(key)
    return key, plain


def normalize_email(email: str) -> str:
    cleaned = email.strip().lower()
    if not is_email_address(cleaned):
        raise PlatformError(f"invalid email address: {email!r}")
    return cleaned


def create_user(
    session: Session,
    platform_id: str,
    email: str,
    role: Role,
    *,
    password: str | None = None,
    confirmed: bool = False,
) -> tuple[User, str]:
    address = normalize_email(email)
    if session.scalars(select(User.id).where(User.email == address)).first() is not None:
        raise PlatformError(f"a user with email {address} already exists")
    plain = password or secrets.token_urlsafe(24)
    if (problem := password_problem(plain, email=address)) is not None:
        raise PlatformError(f"password refused: {problem}")
    now = clock.now()
    user = User(
        id=ids.new("user"),
        platform_id=platform_id,
        email=address,
        password_hash=hash_password(plain),
        role=role.value,
        email_confirmed_at=now if confirmed else None,
        created_at=now,
    )
    session.add(user)
    return user, plain


def create_platform(
    session: Session, name: str, owner_email: str, *, password: str | None = None
) -> NewPlatform:
    cleaned = name.strip()
    if not cleaned or len(cleaned) > 200:
        raise PlatformError("platform name must be 1 to 200 characters")
    if has_control_characters(cleaned):
        raise PlatformError("platform name must be one line, without control characters")
    platform = Platform(id=ids.new("acct"), name=cleaned, created_at=clock.now())
    session.add(platform)
    session.flush()
    owner, owner_password = create_user(
        session, platform.id, owner_email, Role.owner, password=password, confirmed=True
    )
    _, test_key = create_api_key(session, platform.id, False, name="Default test key")
    _, live_key = create_api_key(session, platform.id, True, name="Default live key")
    return NewPlatform(platform, owner, owner_password, test_key, live_key)
