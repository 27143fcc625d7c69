"""Settings: branding and email, automatic relink (owners and admins), the team (owners)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from fastapi import APIRouter, Depends
from sqlalchemy.orm import Session
from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from relink.automatic_relink import service as relink_policy
from relink.dashboard import team
from relink.dashboard.auth import CONFIRMATION_LIFETIME
from relink.dashboard.branding import (
    LOGO_MAX_BYTES,
    BrandingEdit,
    apply_branding,
    apply_draft,
    find_draft,
    preview_landing_screen,
    previewed_platform,
    save_draft,
    worded_errors,
)
from relink.dashboard.relink_policy import MAX_DELAY_HOURS, PolicyEdit, policy_sentences
from relink.dashboard.views.accounts import EMAIL_PREVIEW_CSP
from relink.dashboard.web import (
    NotFound,
    Viewer,
    current_viewer,
    editor,
    form_data,
    form_text,
    locale_of,
    owner,
    page,
    redirect,
    translated,
    translated_errors,
)
from relink.email.dkim import key_of
from relink.email.messages import address_domain
from relink.email.preview import brand_preview_email, html_for_browser
from relink.hosted.branding import png_logo, stylesheet
from relink.kit.i18n import LANGUAGE_NAMES, N_, SUPPORTED_LOCALES, gettext_for, supported
from relink.models import BrandingDraft, Platform, Role
from relink.web.security import DEFAULT_CSP
from relink.web.templating import render

router = APIRouter()


def _platform(viewer: Viewer) -> Platform:
    with viewer.runtime.database.read_only() as db:
        platform = db.get(Platform, viewer.platform_id)
    assert platform is not None
    return platform


def _signing(viewer: Viewer) -> dict[str, str | None]:
    """The sender domain and the selector of its DKIM key (None: emails go unsigned)."""
    domain = address_domain(viewer.runtime.settings.email_from)
    with viewer.runtime.database.read_only() as db:
        key = key_of(db, domain)
        selector = key.selector if key is not None else None
    return {"domain": domain, "selector": selector}


def _settings_page(
    request: Request, viewer: Viewer, edit: BrandingEdit | None = None, status_code: int = 200
) -> Response:
    platform = _platform(viewer)
    if edit is not None and edit.errors:
        edit = replace(edit, errors=worded_errors(edit.errors, viewer.locale))
    return page(
        request,
        viewer,
        "settings.html",
        {
            "edit": edit or BrandingEdit.of(platform),
            "has_logo": platform.logo_png is not None,
            "languages": LANGUAGE_NAMES,
            "logo_max_kb": LOGO_MAX_BYTES // 1024,
            "signing": _signing(viewer),
        },
        status_code=status_code,
    )


def _uploaded(form: FormData, name: str) -> bytes | None:
    """The uploaded file's bytes (one byte over the limit at most: enough to refuse it)."""
    upload = form.get(name)
    if not isinstance(upload, UploadFile) or not upload.filename:
        return None
    data = upload.file.read(LOGO_MAX_BYTES + 1)
    return data or None


@router.get("/settings")
def settings(request: Request, viewer: Viewer = Depends(current_viewer)) -> Response:
    return _settings_page(request, viewer)


def _branding_form(form: FormData) -> BrandingEdit:
    return BrandingEdit.read(
        name=form_text(form, "name", 400),
        brand_color=form_text(form, "brand_color", 20),
        support_email=form_text(form, "support_email", 400),
        website_url=form_text(form, "website_url", 4000),
        email_sender_name=form_text(form, "email_sender_name", 400),
        default_locale=form_text(form, "default_locale", 10),
        hosted_relink_enabled=form_text(form, "hosted_relink_enabled") == "1",
        logo=_uploaded(form, "logo"),
        remove_logo=form_text(form, "remove_logo") == "1",
    )


@router.post("/settings")
def save_settings(
    request: Request, viewer: Viewer = Depends(editor), form: FormData = Depends(form_data)
) -> Response:
    edit = _branding_form(form)
    if edit.errors:
        return _settings_page(request, viewer, edit, status_code=400)
    with viewer.runtime.database.unit_of_work() as db:
        platform = db.get(Platform, viewer.platform_id)
        assert platform is not None
        apply_branding(platform, edit)
    return redirect("/settings", notice="saved")


@router.get("/settings/logo.png")
def logo(viewer: Viewer = Depends(current_viewer)) -> Response:
    platform = _platform(viewer)
    if platform.logo_png is None:
        raise NotFound()
    return Response(
        platform.logo_png, media_type="image/png", headers={"cache-control": "no-store"}
    )


# -- the brand preview -----------------------------------------------------------------------
#
# "Preview" posts the form's draft, which is kept on the server (a logo does not fit in a
# cookie) and shown at /settings/preview/<draft id>; /settings/preview/saved shows the
# saved branding. Any team member of the platform may look; owners and admins save.

SAVED = "saved"
# The landing page in a frame of the preview page: its forms go nowhere.
LANDING_PREVIEW_CSP = DEFAULT_CSP.replace("form-action 'self'", "form-action 'none'").replace(
    "frame-ancestors 'none'", "frame-ancestors 'self'"
)


def _previewed(viewer: Viewer, key: str) -> tuple[Platform, BrandingDraft | None]:
    """The platform as the preview ``key`` shows it, and its draft (404: none here)."""
    with viewer.runtime.database.read_only() as db:
        platform = db.get(Platform, viewer.platform_id)
        assert platform is not None
        draft = None
        if key != SAVED:
            draft = find_draft(db, viewer.platform_id, key, viewer.scope.now())
            if draft is None:
                raise NotFound()
        return previewed_platform(platform, draft), draft


def _preview_locale(request: Request, platform: Platform) -> str:
    """The holder's language the preview shows: the one asked for, else the default."""
    return supported(request.query_params.get("lang")) or platform.default_locale


@router.post("/settings/preview")
def preview_settings(
    request: Request, viewer: Viewer = Depends(editor), form: FormData = Depends(form_data)
) -> Response:
    edit = _branding_form(form)
    if edit.errors:
        return _settings_page(request, viewer, edit, status_code=400)
    with viewer.runtime.database.unit_of_work() as db:
        draft = save_draft(db, viewer.platform_id, viewer.user_id, edit, viewer.scope.now())
        draft_id = draft.id
    return redirect(f"/settings/preview/{draft_id}")


@router.get("/settings/preview/{key}")
def brand_preview(request: Request, key: str, viewer: Viewer = Depends(current_viewer)) -> Response:
    platform, draft = _previewed(viewer, key)
    locale = _preview_locale(request, platform)
    email = brand_preview_email(viewer.runtime, platform, locale, viewer.scope.now())
    return page(
        request,
        viewer,
        "settings_preview.html",
        {
            "key": key,
            "draft": draft,
            "previewed": platform,
            "email": email,
            "holder_locale": locale,
            "languages": LANGUAGE_NAMES,
        },
    )


@router.post("/settings/preview/{key}/save")
def save_preview(key: str, viewer: Viewer = Depends(editor)) -> Response:
    with viewer.runtime.database.unit_of_work() as db:
        saved = key != SAVED and apply_draft(db, viewer.platform_id, key, viewer.scope.now())
    if not saved:
        raise NotFound()
    return redirect("/settings", notice="saved")


@router.get("/settings/preview/{key}/email.html")
def brand_preview_email_frame(
    request: Request, key: str, viewer: Viewer = Depends(current_viewer)
) -> Response:
    platform, _ = _previewed(viewer, key)
    locale = _preview_locale(request, platform)
    email = brand_preview_email(viewer.runtime, platform, locale, viewer.scope.now())
    return HTMLResponse(
        html_for_browser(email),
        headers={
            "content-security-policy": EMAIL_PREVIEW_CSP,
            "x-frame-options": "SAMEORIGIN",
            "cache-control": "no-store",
        },
    )


@router.get("/settings/preview/{key}/landing")
def brand_preview_landing_frame(
    request: Request, key: str, viewer: Viewer = Depends(current_viewer)
) -> Response:
    platform, _ = _previewed(viewer, key)
    locale = _preview_locale(request, platform)
    path = f"/settings/preview/{key}"
    screen = preview_landing_screen(platform, path, livemode=viewer.livemode)
    html = render(
        "hosted/landing.html",
        {
            "screen": screen,
            "link_path": path,
            "switch_path": screen.switch_path,
            "languages": [(code, LANGUAGE_NAMES[code]) for code in SUPPORTED_LOCALES],
        },
        locale=locale,
    )
    return HTMLResponse(
        html,
        headers={
            "content-security-policy": LANDING_PREVIEW_CSP,
            "x-frame-options": "SAMEORIGIN",
            "cache-control": "no-store",
        },
    )


@router.get("/settings/preview/{key}/brand.css")
def brand_preview_css(key: str, viewer: Viewer = Depends(current_viewer)) -> Response:
    platform, _ = _previewed(viewer, key)
    return Response(
        stylesheet(platform.brand_color),
        media_type="text/css",
        headers={"cache-control": "no-store"},
    )


@router.get("/settings/preview/{key}/logo")
def brand_preview_logo(key: str, viewer: Viewer = Depends(current_viewer)) -> Response:
    platform, _ = _previewed(viewer, key)
    logo = png_logo(platform.logo_png)
    if logo is None:
        raise NotFound()
    return Response(logo, media_type="image/png", headers={"cache-control": "no-store"})


# -- automatic relink ----------------------------------------------------------------------


def _policy_page(
    request: Request, viewer: Viewer, edit: PolicyEdit | None = None, status_code: int = 200
) -> Response:
    with viewer.runtime.database.read_only() as db:
        policy = relink_policy.policy_of(db, viewer.scope)
    if edit is not None:
        edit.errors.update(translated_errors(request, viewer, edit.errors))
    return page(
        request,
        viewer,
        "settings_automatic_relink.html",
        {
            "edit": edit or PolicyEdit.of(policy),
            "policy_sentences": policy_sentences(policy, gettext_for(locale_of(request, viewer))),
            "mode": "live" if viewer.livemode else "test",
            "max_delay_hours": MAX_DELAY_HOURS,
            "max_reminders": relink_policy.MAX_REMINDERS,
            "max_reminder_day": relink_policy.MAX_REMINDER_DAY,
            "max_expiry_day": relink_policy.MAX_EXPIRY_REMINDER_DAY,
            "max_emails": relink_policy.MAX_EMAILS_PER_ACCOUNT,
        },
        status_code=status_code,
    )


@router.get("/settings/automatic-relink")
def automatic_relink(request: Request, viewer: Viewer = Depends(current_viewer)) -> Response:
    return _policy_page(request, viewer)


@router.post("/settings/automatic-relink")
def save_automatic_relink(
    request: Request, viewer: Viewer = Depends(editor), form: FormData = Depends(form_data)
) -> Response:
    """The viewer's platform and mode's policy; refused, the form again with what was typed."""
    with viewer.runtime.database.unit_of_work() as db:
        edit = PolicyEdit.read(
            relink_policy.policy_of(db, viewer.scope),
            enabled=form_text(form, "enabled", 10),
            delay_hours=form_text(form, "delay_hours", 20),
            delay_minutes=form_text(form, "delay_minutes", 20),
            reminder_days=form_text(form, "reminder_days", 200),
            expiry_reminder_days=form_text(form, "expiry_reminder_days", 200),
            max_emails_per_account=form_text(form, "max_emails_per_account", 20),
        )
        if not edit.errors:
            relink_policy.change_policy(db, viewer.scope, edit.changes)
    if edit.errors:
        return _policy_page(request, viewer, edit, status_code=400)
    return redirect("/settings/automatic-relink", notice="policy_saved")


# -- team -------------------------------------------------------------------------------------


def _team_page(
    request: Request,
    viewer: Viewer,
    *,
    error: str | None = None,
    invite_email: str = "",
    status_code: int = 200,
) -> Response:
    with viewer.runtime.database.read_only() as db:
        members = team.team_members(db, viewer.platform_id)
    return page(
        request,
        viewer,
        "settings_team.html",
        {
            "members": members,
            "roles": [role.value for role in Role],
            # The refusals are marked with N_ where they are raised.
            "error": translated(request, viewer, error) if error else None,
            "invite_email": invite_email,
            "invitation_days": CONFIRMATION_LIFETIME.days,
        },
        status_code=status_code,
    )


def _role(form: FormData) -> Role | None:
    value = form_text(form, "role", 10)
    return Role(value) if value in set(Role) else None


@router.get("/settings/team")
def team_settings(request: Request, viewer: Viewer = Depends(current_viewer)) -> Response:
    return _team_page(request, viewer)


@router.post("/settings/team/invite")
def invite(
    request: Request, viewer: Viewer = Depends(owner), form: FormData = Depends(form_data)
) -> Response:
    email, role = form_text(form, "email"), _role(form)
    if role is None:
        return _team_page(
            request, viewer, error=N_("Choose a role."), invite_email=email, status_code=400
        )
    try:
        with viewer.runtime.database.unit_of_work() as db:
            team.invite(db, viewer.runtime, viewer.platform_id, email, role)
    except team.TeamChangeRefused as refused:
        return _team_page(request, viewer, error=str(refused), invite_email=email, status_code=400)
    return redirect("/settings/team", notice="invitation_sent")


def _change_member(
    request: Request, viewer: Viewer, change: Callable[[Session], object | None], notice: str
) -> Response:
    """One change to a team member in its transaction: refused, the team page says why;
    no such member, 404; done, back to the team page with ``notice``."""
    try:
        with viewer.runtime.database.unit_of_work() as db:
            changed = change(db)
    except team.TeamChangeRefused as refused:
        return _team_page(request, viewer, error=str(refused), status_code=400)
    if changed is None:
        raise NotFound()
    return redirect("/settings/team", notice=notice)


@router.post("/settings/team/{user_id}/resend-invitation")
def resend_invitation(request: Request, user_id: str, viewer: Viewer = Depends(owner)) -> Response:
    return _change_member(
        request,
        viewer,
        lambda db: team.resend_invitation(db, viewer.runtime, viewer.platform_id, user_id),
        "invitation_resent",
    )


@router.post("/settings/team/{user_id}/role")
def change_role(
    request: Request,
    user_id: str,
    viewer: Viewer = Depends(owner),
    form: FormData = Depends(form_data),
) -> Response:
    role = _role(form)
    if role is None:
        return _team_page(request, viewer, error=N_("Choose a role."), status_code=400)
    return _change_member(
        request,
        viewer,
        lambda db: team.change_role(db, viewer.platform_id, user_id, role),
        "role_changed",
    )


@router.post("/settings/team/{user_id}/remove")
def remove(request: Request, user_id: str, viewer: Viewer = Depends(owner)) -> Response:
    return _change_member(
        request,
        viewer,
        lambda db: team.remove_member(db, viewer.platform_id, viewer.user_id, user_id),
        "user_removed",
    )
