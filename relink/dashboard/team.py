"""Settings → Team: invite users, change roles, remove users (owners only).

An invited user is created unconfirmed, with an unusable random password, and is emailed
an invitation link (an :class:`EmailConfirmation` with ``invitation=True``) where they
choose a password, which confirms their address. The link is only in that email: the
owner never sees it (the test-mode rule that relink emails go only to confirmed team
addresses rests on that), and can only have it sent again.

A platform always keeps an owner: the last owner can be neither demoted nor removed,
and an owner cannot remove themself.
"""

from __future__ import annotations

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from relink.dashboard.auth import create_confirmation
from relink.kit import clock
from relink.kit.i18n import N_
from relink.models import DashboardLogin, EmailConfirmation, Role, User
from relink.platforms.service import PlatformError, create_user, normalize_email
from relink.runtime import Runtime

TEAM_LIMIT = 500


class TeamChangeRefused(Exception):
    """The change would break a team rule; the message is shown as is."""


def team_members(db: Session, platform_id: str) -> list[User]:
    return list(
        db.scalars(
            select(User)
            .where(User.platform_id == platform_id)
            .order_by(User.created_at, User.id)
            .limit(TEAM_LIMIT)
        )
    )


def _member(db: Session, platform_id: str, user_id: str) -> User | None:
    return db.scalars(
        select(User).where(User.id == user_id, User.platform_id == platform_id).with_for_update()
    ).first()


def _owner_count(db: Session, platform_id: str) -> int:
    return int(
        db.scalar(
            select(func.count())
            .select_from(User)
            .where(User.platform_id == platform_id, User.role == Role.owner)
        )
        or 0
    )


def invite(db: Session, runtime: Runtime, platform_id: str, email: str, role: Role) -> User:
    """Create the user (unconfirmed) and email them their invitation link."""
    try:
        address = normalize_email(email)
    except PlatformError:
        raise TeamChangeRefused(N_("Enter an email address like name@example.com.")) from None
    if db.scalars(select(User.id).where(User.email == address)).first() is not None:
        # Said plainly: only an owner sees it, and it explains why nothing happened.
        raise TeamChangeRefused(N_("A user with this email address already exists."))
    user, _unused_password = create_user(db, platform_id, address, role)
    db.flush()
    create_confirmation(db, runtime, user, invitation=True)
    return user


def resend_invitation(db: Session, runtime: Runtime, platform_id: str, user_id: str) -> User | None:
    """Email a new invitation link to a user who has not confirmed yet; earlier links
    stop working."""
    user = _member(db, platform_id, user_id)
    if user is None:
        return None
    if user.email_confirmed_at is not None:
        raise TeamChangeRefused(N_("This user has already confirmed their address."))
    db.execute(
        update(EmailConfirmation)
        .where(EmailConfirmation.user_id == user.id, EmailConfirmation.used_at.is_(None))
        .values(used_at=clock.now())
    )
    create_confirmation(db, runtime, user, invitation=True)
    return user


def change_role(db: Session, platform_id: str, user_id: str, role: Role) -> User | None:
    user = _member(db, platform_id, user_id)
    if user is None:
        return None
    if user.role == Role.owner and role != Role.owner and _owner_count(db, platform_id) <= 1:
        raise TeamChangeRefused(
            N_("The platform needs at least one owner; make someone else owner first.")
        )
    user.role = role.value
    return user


def remove_member(db: Session, platform_id: str, actor_id: str, user_id: str) -> User | None:
    """Delete the user, their sign-ins and confirmation links."""
    if user_id == actor_id:
        raise TeamChangeRefused(N_("You cannot remove yourself; another owner can."))
    user = _member(db, platform_id, user_id)
    if user is None:
        return None
    if user.role == Role.owner and _owner_count(db, platform_id) <= 1:
        raise TeamChangeRefused(N_("The last owner cannot be removed."))
    db.execute(delete(DashboardLogin).where(DashboardLogin.user_id == user.id))
    db.execute(delete(EmailConfirmation).where(EmailConfirmation.user_id == user.id))
    db.delete(user)
    return user
