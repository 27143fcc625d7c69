"""Editing account holders from the dashboard (how an operator fixes ``missing_email``)."""

from __future__ import annotations

from dataclasses import dataclass, field

from relink.kit.email_address import is_email_address
from relink.kit.i18n import N_, SUPPORTED_LOCALES
from relink.models import ConnectedAccount, Customer


@dataclass
class HolderEdit:
    email: str
    language: str
    errors: dict[str, str] = field(default_factory=dict)

    @classmethod
    def read(cls, email: str, language: str) -> HolderEdit:
        """Validate the form; ``errors`` maps a field name to the message shown next to it."""
        edit = cls(email.strip(), language.strip())
        if edit.email and not is_email_address(edit.email):
            edit.errors["email"] = N_("Enter an email address like name@example.com.")
        if edit.language and edit.language not in SUPPORTED_LOCALES:
            edit.errors["language"] = N_("Choose one of the listed languages.")
        return edit


def apply_holder_edit(holder: Customer | ConnectedAccount, edit: HolderEdit) -> None:
    """Set the email (empty clears it) and the preferred language (empty: platform default)."""
    assert not edit.errors
    holder.email = edit.email or None
    holder.preferred_locales = [edit.language] if edit.language else []
