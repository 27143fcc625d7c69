"""Settings → Branding and email: what holders see in relink emails and hosted pages.

The logo is checked by its content, never by its file name or the browser's content
type: it must start with the PNG signature and be at most :data:`LOGO_MAX_BYTES`.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from relink.email.preview import SAMPLE_BANK, SAMPLE_HOLDER, SAMPLE_LAST4
from relink.hosted.branding import png_logo, support_contact_of, website_of
from relink.hosted.screens import MaskedAccount, Reason, Screen
from relink.kit import ids
from relink.kit.email_address import is_email_address
from relink.kit.i18n import N_, SUPPORTED_LOCALES, gettext_for
from relink.kit.text import has_control_characters
from relink.models import BrandingDraft, Platform

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# A draft is for trying values out before saving them: a day is plenty, and the next
# preview of the same user replaces it.
DRAFT_LIFETIME = dt.timedelta(days=1)
LOGO_MAX_BYTES = 256 * 1024
_COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")


def logo_problem(data: bytes) -> str | None:
    """Why ``data`` cannot be the logo, or None if it is a PNG of an allowed size (the
    message is the English source: :func:`worded_errors` translates and fills it in)."""
    if len(data) > LOGO_MAX_BYTES:
        return N_("The logo must be at most %(kb)s KB; this file is larger.")
    if not data.startswith(PNG_SIGNATURE):
        return N_("The logo must be a PNG image; this file is not one.")
    return None


@dataclass
class BrandingEdit:
    name: str
    brand_color: str
    support_email: str
    email_sender_name: str
    default_locale: str
    hosted_relink_enabled: bool
    # The platform's website, which hosted pages repeat beside the support email.
    website_url: str = ""
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
            website_url=platform.website_url or "",
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
        website_url: str = "",
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
            website_url=website_url.strip(),
        )
        one_line = N_("Use one line of text, without line breaks or control characters.")
        if not edit.name or len(edit.name) > 200:
            edit.errors["name"] = N_("Enter the business name (1 to 200 characters).")
        elif has_control_characters(edit.name):
            # The name is also the emails' sender name when none is set.
            edit.errors["name"] = one_line
        if not _COLOR.match(edit.brand_color):
            edit.errors["brand_color"] = N_("Enter a colour as # and six hex digits, like #3a5bd9.")
        if edit.support_email and not is_email_address(edit.support_email):
            edit.errors["support_email"] = N_("Enter an email address like support@example.com.")
        if edit.website_url and (
            len(edit.website_url) > 2048 or website_of(edit.website_url) is None
        ):
            edit.errors["website_url"] = N_("Enter a web address like https://example.com.")
        if len(edit.email_sender_name) > 200:
            edit.errors["email_sender_name"] = N_("Use at most 200 characters.")
        elif has_control_characters(edit.email_sender_name):
            # It goes into the From header of every email: a line break there would
            # make each of them unsendable.
            edit.errors["email_sender_name"] = one_line
        if edit.default_locale not in SUPPORTED_LOCALES:
            edit.errors["default_locale"] = N_("Choose one of the listed languages.")
        if edit.logo is not None and (problem := logo_problem(edit.logo)):
            edit.errors["logo"] = problem
        return edit


def worded_errors(errors: dict[str, str], locale: str) -> dict[str, str]:
    """The form's errors in ``locale``, their numbers filled in."""
    _ = gettext_for(locale).gettext
    return {name: _(message) % {"kb": LOGO_MAX_BYTES // 1024} for name, message in errors.items()}


def apply_branding(platform: Platform, edit: BrandingEdit) -> None:
    assert not edit.errors
    platform.name = edit.name
    platform.brand_color = edit.brand_color.lower()
    platform.support_email = edit.support_email or None
    platform.website_url = edit.website_url or None
    platform.email_sender_name = edit.email_sender_name or None
    platform.default_locale = edit.default_locale
    platform.hosted_relink_enabled = edit.hosted_relink_enabled
    if edit.logo is not None:
        platform.logo_png = edit.logo
        platform.logo_content_type = "image/png"
    elif edit.remove_logo:
        platform.logo_png = None
        platform.logo_content_type = None


# -- drafts: the brand preview -----------------------------------------------------------


def save_draft(
    db: Session, platform_id: str, user_id: str, edit: BrandingEdit, now: dt.datetime
) -> BrandingDraft:
    """Keep ``edit`` (validated) as the user's draft, replacing their earlier one."""
    assert not edit.errors
    db.execute(
        delete(BrandingDraft).where(
            BrandingDraft.platform_id == platform_id, BrandingDraft.user_id == user_id
        )
    )
    action = "replace" if edit.logo is not None else "remove" if edit.remove_logo else "keep"
    draft = BrandingDraft(
        id=ids.new("brdraft"),
        platform_id=platform_id,
        user_id=user_id,
        name=edit.name,
        brand_color=edit.brand_color.lower(),
        support_email=edit.support_email,
        website_url=edit.website_url,
        email_sender_name=edit.email_sender_name,
        default_locale=edit.default_locale,
        hosted_relink_enabled=edit.hosted_relink_enabled,
        logo_action=action,
        logo_png=edit.logo,
        created_at=now,
        expires_at=now + DRAFT_LIFETIME,
    )
    db.add(draft)
    return draft


def find_draft(
    db: Session, platform_id: str, draft_id: str, now: dt.datetime
) -> BrandingDraft | None:
    """A draft of ``platform_id`` that has not expired (another platform's: None)."""
    return db.scalars(
        select(BrandingDraft).where(
            BrandingDraft.id == draft_id,
            BrandingDraft.platform_id == platform_id,
            BrandingDraft.expires_at > now,
        )
    ).first()


def edit_of_draft(draft: BrandingDraft) -> BrandingEdit:
    """The draft as the settings form's edit, to save it."""
    return BrandingEdit(
        name=draft.name,
        brand_color=draft.brand_color,
        support_email=draft.support_email,
        website_url=draft.website_url,
        email_sender_name=draft.email_sender_name,
        default_locale=draft.default_locale,
        hosted_relink_enabled=draft.hosted_relink_enabled,
        logo=draft.logo_png if draft.logo_action == "replace" else None,
        remove_logo=draft.logo_action == "remove",
    )


def apply_draft(db: Session, platform_id: str, draft_id: str, now: dt.datetime) -> bool:
    """Save the draft as the platform's branding (and forget it); False if there is no
    such draft (any more) for this platform."""
    draft = find_draft(db, platform_id, draft_id, now)
    platform = db.get(Platform, platform_id)
    if draft is None or platform is None:
        return False
    apply_branding(platform, edit_of_draft(draft))
    db.delete(draft)
    return True


def previewed_platform(platform: Platform, draft: BrandingDraft | None) -> Platform:
    """The platform as a holder would see it with the draft saved: a copy that is never
    added to the database (without a draft, the saved branding)."""
    if draft is None:
        logo = platform.logo_png
    else:
        logo = {"replace": draft.logo_png, "remove": None}.get(draft.logo_action, platform.logo_png)
    return Platform(
        id=platform.id,
        name=draft.name if draft else platform.name,
        brand_color=draft.brand_color if draft else platform.brand_color,
        support_email=(draft.support_email if draft else platform.support_email) or None,
        website_url=(draft.website_url if draft else platform.website_url) or None,
        email_sender_name=(draft.email_sender_name if draft else platform.email_sender_name)
        or None,
        default_locale=draft.default_locale if draft else platform.default_locale,
        hosted_relink_enabled=(
            draft.hosted_relink_enabled if draft else platform.hosted_relink_enabled
        ),
        logo_png=logo,
        logo_content_type="image/png" if logo else None,
    )


def preview_landing_screen(platform: Platform, path: str, *, livemode: bool) -> Screen:
    """The hosted landing page of the example holder, with ``platform``'s branding; its
    brand stylesheet and logo are served below ``path``, its forms lead nowhere."""
    return Screen(
        page="landing",
        path=path,
        platform_name=platform.name,
        brand_color=platform.brand_color,
        has_logo=png_logo(platform.logo_png) is not None,
        support=support_contact_of(platform),
        livemode=livemode,
        holder_name=SAMPLE_HOLDER,
        bank_name=SAMPLE_BANK,
        accounts=[MaskedAccount(None, SAMPLE_LAST4)],
        reason=Reason("consent_expired"),
        permissions=["balances", "ownership"],
        switch_path=path + "/landing",
    )
