"""A team user's own dashboard preferences: the time zone times are shown in, and the
language the dashboard speaks (English or German).

Each user changes only their own row; nothing here is shared with the team.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from relink.kit.dates import is_time_zone
from relink.kit.i18n import DASHBOARD_LOCALES, N_
from relink.models import User


class PreferencesRejected(ValueError):
    """A value the form cannot take; ``errors`` maps each field to its message."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(errors.values()))
        self.errors = errors


def check_preferences(*, time_zone: str, locale: str) -> None:
    """Refuse a bad value before anything is written (the messages are translated where
    they are shown)."""
    errors: dict[str, str] = {}
    if locale not in DASHBOARD_LOCALES:
        errors["locale"] = N_("Choose English or German.")
    if not is_time_zone(time_zone):
        errors["time_zone"] = N_("Choose a time zone from the list, such as Europe/Berlin.")
    if errors:
        raise PreferencesRejected(errors)


def save_preferences(db: Session, user_id: str, *, time_zone: str, locale: str) -> None:
    check_preferences(time_zone=time_zone, locale=locale)
    user = db.get(User, user_id)
    if user is None:
        raise PreferencesRejected({"time_zone": N_("Your user no longer exists.")})
    user.time_zone = time_zone
    user.locale = locale
