"""Settings → Branding and email: what holders see in relink emails and hosted pages.

The logo is checked by its content, never by its file name or the browser's content
type: it must start with the PNG signature and be at most :data:`LOGO_MAX_BYTES`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from relink.kit.email_address import is_email_address
from relink.kit.i18n import SUPPORTED_LOCALES
from relink.kit.text import has_control_characters
from relink.models import Platform

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
LOGO_MAX_BYTES = 256 * 1024
_COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")


def logo_problem(data: bytes) -> str | None:
    """Why ``data`` cannot be the logo, or None if it is a PNG of an allowed size."""
    if len(data) > LOGO_MAX_BYTES:
        return f"The logo must be at most {LOGO_MAX_BYTES // 1024} KB; this file is larger."
    if not data.startswith(PNG_SIGNATURE):
        return "The logo must be a PNG image; this file is not one."
    return None


@dataclass
class BrandingEdit:
    name: str
    brand_color: str
    support_email: str
    email_sender_name: str
    default_locale: str
    hosted_relink_enabled: bool
    # New logo bytes (None: keep the current logo), or remove it.
    logo: bytes | None = None
    remove_logo: bool = False
    errors: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, platform: Platform) -> BrandingEdit:
        return cls(
            name=platform.name,
            brand_color=platform.brand_color,
            support_email=platform.support_email or "",
            email_sender_name=platform.email_sender_name or "",
            default_locale=platform.default_locale,
            hosted_relink_enabled=platform.hosted_relink_enabled,
        )

    @classmethod
    def read(
        cls,
        *,
        name: str,
        brand_color: str,
        support_email: str,
        email_sender_name: str,
        default_locale: str,
        hosted_relink_enabled: bool,
        logo: bytes | None,
        remove_logo: bool,
    ) -> BrandingEdit:
        """Validate the form; ``errors`` maps a field name to the message shown next to it."""
        edit = cls(
            name=name.strip(),
            brand_color=brand_color.strip(),
            support_email=support_email.strip(),
            email_sender_name=email_sender_name.strip(),
            default_locale=default_locale.strip(),
            hosted_relink_enabled=hosted_relink_enabled,
            logo=logo or None,
            remove_logo=remove_logo,
        )
        one_line = "Use one line of text, without line breaks or control characters."
        if not edit.name or len(edit.name) > 200:
            edit.errors["name"] = "Enter the business name (1 to 200 characters)."
        elif has_control_characters(edit.name):
            # The name is also the emails' sender name when none is set.
            edit.errors["name"] = one_line
        if not _COLOR.match(edit.brand_color):
            edit.errors["brand_color"] = "Enter a colour as # and six hex digits, like #3a5bd9."
        if edit.support_email and not is_email_address(edit.support_email):
            edit.errors["support_email"] = "Enter an email address like support@example.com."
        if len(edit.email_sender_name) > 200:
            edit.errors["email_sender_name"] = "Use at most 200 characters."
        elif has_control_characters(edit.email_sender_name):
            # It goes into the From header of every email: a line break there would
            # make each of them unsendable.
            edit.errors["email_sender_name"] = one_line
        if edit.default_locale not in SUPPORTED_LOCALES:
            edit.errors["default_locale"] = "Choose one of the listed languages."
        if edit.logo is not None and (problem := logo_problem(edit.logo)):
            edit.errors["logo"] = problem
        return edit


def apply_branding(platform: Platform, edit: BrandingEdit) -> None:
    assert not edit.errors
    platform.name = edit.name
    platform.brand_color = edit.brand_color.lower()
    platform.support_email = edit.support_email or None
    platform.email_sender_name = edit.email_sender_name or None
    platform.default_locale = edit.default_locale
    platform.hosted_relink_enabled = edit.hosted_relink_enabled
    if edit.logo is not None:
        platform.logo_png = edit.logo
        platform.logo_content_type = "image/png"
    elif edit.remove_logo:
        platform.logo_png = None
        platform.logo_content_type = None
