"""The brand preview beside the branding settings (relink/dashboard/branding.py): the
relink email and the hosted landing page with the values being edited, before they are
saved; a draft kept on the server, seen by the platform's team only."""

from __future__ import annotations

import base64

import httpx
import pytest
from sqlalchemy import func, select, update

from relink.models import BrandingDraft, Platform, Role
from relink.platforms.service import NewPlatform
from tests.conftest import RunningServer, make_platform
from tests.dashboard.factories import add_user, page_csrf, png, signed_in_client

PREVIEW_PATH = "/settings/preview/"


def _platform(server: RunningServer, platform: NewPlatform) -> Platform:
    with server.runtime.database.read_only() as db:
        found = db.get(Platform, platform.platform.id)
        assert found is not None
        return found


def _drafts(server: RunningServer, platform: NewPlatform) -> int:
    with server.runtime.database.read_only() as db:
        count = db.scalar(
            select(func.count())
            .select_from(BrandingDraft)
            .where(BrandingDraft.platform_id == platform.platform.id)
        )
        return int(count or 0)


def _preview(
    client: httpx.Client,
    current: Platform,
    fields: dict[str, str] | None = None,
    *,
    logo: bytes | None = None,
    csrf: bool = True,
    **changes: str,
) -> httpx.Response:
    data = {
        "name": current.name,
        "brand_color": current.brand_color,
        "support_email": current.support_email or "",
        "email_sender_name": current.email_sender_name or "",
        "default_locale": current.default_locale,
        "hosted_relink_enabled": "1",
        **(fields or {}),
        **changes,
    }
    if csrf:
        data["csrf_token"] = page_csrf(client, "/settings")
    files = {"logo": ("logo.png", logo, "image/png")} if logo else None
    return client.post("/settings/preview", data=data, files=files)


def _draft_path(response: httpx.Response) -> str:
    assert response.status_code == 303, response.text
    location = response.headers["location"]
    assert location.startswith(PREVIEW_PATH)
    return location


def test_a_preview_shows_the_draft_in_the_email_and_the_landing_page_and_saves_nothing(
    server: RunningServer, platform: NewPlatform, owner: httpx.Client
) -> None:
    before = _platform(server, platform)
    logo = png()
    path = _draft_path(_preview(owner, before, name="Acme Bank", brand_color="#AA3300", logo=logo))

    after = _platform(server, platform)
    assert (after.name, after.brand_color, after.logo_png) == (
        before.name,
        before.brand_color,
        before.logo_png,
    )
    shown = owner.get(path)
    assert shown.status_code == 200
    assert "Not saved yet" in shown.text
    assert "Acme Bank" in shown.text
    email = owner.get(path + "/email.html")
    assert email.status_code == 200
    assert "Acme Bank" in email.text
    assert "#aa3300" in email.text
    assert "cid:" not in email.text  # a browser cannot show a cid: reference
    assert f"data:image/png;base64,{base64.b64encode(logo).decode()}" in email.text
    landing = owner.get(path + "/landing")
    assert landing.status_code == 200
    assert "Acme Bank" in landing.text
    assert f'href="{path}/brand.css"' in landing.text
    assert f'src="{path}/logo"' in landing.text
    assert "form-action 'none'" in landing.headers["content-security-policy"]
    assert "--brand: #aa3300" in owner.get(path + "/brand.css").text
    served = owner.get(path + "/logo")
    assert (served.status_code, served.content) == (200, logo)


def test_the_preview_speaks_the_holders_language(
    server: RunningServer, platform: NewPlatform, owner: httpx.Client
) -> None:
    path = _draft_path(_preview(owner, _platform(server, platform), default_locale="de"))

    assert "Bitte verbinden Sie Ihr Konto" in owner.get(path + "/email.html").text
    assert '<html lang="de">' in owner.get(path + "/landing").text
    assert '<html lang="fr">' in owner.get(path + "/landing?lang=fr").text


def test_without_a_new_logo_the_current_one_is_shown_and_removing_it_shows_none(
    server: RunningServer, platform: NewPlatform, owner: httpx.Client
) -> None:
    logo = png(7)
    with server.runtime.database.unit_of_work() as db:
        db.execute(
            update(Platform)
            .where(Platform.id == platform.platform.id)
            .values(logo_png=logo, logo_content_type="image/png")
        )
    current = _platform(server, platform)

    kept = _draft_path(_preview(owner, current))
    assert owner.get(kept + "/logo").content == logo
    removed = _draft_path(_preview(owner, current, remove_logo="1"))
    assert owner.get(removed + "/logo").status_code == 404
    assert "data:image/png" not in owner.get(removed + "/email.html").text


@pytest.mark.parametrize(
    ("field", "value", "error"),
    [
        ("brand_color", "red;}", "brand_color-error"),
        ("name", "", "name-error"),
        ("support_email", "not an address", "support_email-error"),
    ],
)
def test_bad_input_is_an_error_beside_the_field_and_keeps_no_draft(
    server: RunningServer,
    platform: NewPlatform,
    owner: httpx.Client,
    field: str,
    value: str,
    error: str,
) -> None:
    response = _preview(owner, _platform(server, platform), {field: value})

    assert response.status_code == 400
    assert f'id="{error}"' in response.text
    assert _drafts(server, platform) == 0


def test_a_file_that_is_not_a_png_keeps_no_draft(
    server: RunningServer, platform: NewPlatform, owner: httpx.Client
) -> None:
    response = _preview(owner, _platform(server, platform), logo=b"<svg></svg>")

    assert response.status_code == 400
    assert "must be a PNG" in response.text
    assert _drafts(server, platform) == 0


def test_without_the_csrf_token_no_draft_is_kept(
    server: RunningServer, platform: NewPlatform, owner: httpx.Client
) -> None:
    response = _preview(owner, _platform(server, platform), csrf=False, name="Sneaky")

    assert response.status_code == 403
    assert _drafts(server, platform) == 0


def test_saving_the_draft_from_the_preview_saves_it_once(
    server: RunningServer, platform: NewPlatform, owner: httpx.Client
) -> None:
    logo = png(3)
    path = _draft_path(_preview(owner, _platform(server, platform), name="Acme Bank", logo=logo))
    csrf = page_csrf(owner, path)

    saved = owner.post(path + "/save", data={"csrf_token": csrf})

    assert saved.status_code == 303
    assert saved.headers["location"] == "/settings?notice=saved"
    after = _platform(server, platform)
    assert (after.name, after.logo_png) == ("Acme Bank", logo)
    assert _drafts(server, platform) == 0
    # Back and submit again: the draft is gone, nothing is saved twice.
    assert owner.post(path + "/save", data={"csrf_token": csrf}).status_code == 404
    assert owner.get(path).status_code == 404


def test_a_new_preview_replaces_the_users_earlier_draft(
    server: RunningServer, platform: NewPlatform, owner: httpx.Client
) -> None:
    current = _platform(server, platform)
    first = _draft_path(_preview(owner, current, name="First"))
    second = _draft_path(_preview(owner, current, name="Second"))

    assert owner.get(first).status_code == 404
    assert "Second" in owner.get(second).text
    assert _drafts(server, platform) == 1


def test_an_expired_draft_is_not_shown(
    server: RunningServer, platform: NewPlatform, owner: httpx.Client
) -> None:
    path = _draft_path(_preview(owner, _platform(server, platform), name="Old"))
    with server.runtime.database.unit_of_work() as db:
        db.execute(
            update(BrandingDraft)
            .where(BrandingDraft.platform_id == platform.platform.id)
            .values(expires_at=BrandingDraft.created_at)
        )

    assert owner.get(path).status_code == 404
    assert owner.post(path + "/save", data={"csrf_token": page_csrf(owner)}).status_code == 404


def test_a_viewer_sees_the_preview_but_cannot_preview_or_save(
    server: RunningServer, platform: NewPlatform, owner: httpx.Client, viewer: httpx.Client
) -> None:
    current = _platform(server, platform)
    path = _draft_path(_preview(owner, current, name="Draft Name"))

    page = viewer.get(path)
    assert page.status_code == 200
    assert "Draft Name" in page.text
    assert "Save these settings" not in page.text
    assert viewer.get("/settings/preview/saved").status_code == 200
    assert "/settings/preview/saved" in viewer.get("/settings").text
    assert _preview(viewer, current, name="Viewer's").status_code == 403
    refused = viewer.post(path + "/save", data={"csrf_token": page_csrf(viewer, path)})
    assert refused.status_code == 403
    assert _platform(server, platform).name == current.name
    assert _drafts(server, platform) == 1


def test_an_admin_may_preview_and_save(server: RunningServer, platform: NewPlatform) -> None:
    admin = signed_in_client(server, add_user(server, platform, Role.admin))
    try:
        path = _draft_path(_preview(admin, _platform(server, platform), name="By the admin"))
        saved = admin.post(path + "/save", data={"csrf_token": page_csrf(admin, path)})
    finally:
        admin.close()
    assert saved.status_code == 303
    assert _platform(server, platform).name == "By the admin"


def test_another_platform_can_neither_see_nor_save_the_draft(
    server: RunningServer, platform: NewPlatform, owner: httpx.Client
) -> None:
    path = _draft_path(_preview(owner, _platform(server, platform), name="Ours", logo=png()))
    with server.runtime.database.unit_of_work() as db:
        other = make_platform(db, name="Other Lending")
    stranger = signed_in_client(server, other.owner.email)
    try:
        for suffix in ("", "/email.html", "/landing", "/brand.css", "/logo"):
            assert stranger.get(path + suffix).status_code == 404, suffix
        refused = stranger.post(path + "/save", data={"csrf_token": page_csrf(stranger)})
        assert refused.status_code == 404
        saved_preview = stranger.get("/settings/preview/saved").text
    finally:
        stranger.close()
    assert "Other Lending" in saved_preview and "Ours" not in saved_preview
    assert _platform(server, platform).name != "Ours"
    assert _drafts(server, platform) == 1


def test_the_saved_branding_has_a_preview_too(
    server: RunningServer, platform: NewPlatform, owner: httpx.Client
) -> None:
    page = owner.get("/settings/preview/saved")

    assert page.status_code == 200
    assert "how holders see the saved branding" in page.text
    assert "Save these settings" not in page.text
    assert (
        owner.post(
            "/settings/preview/saved/save", data={"csrf_token": page_csrf(owner)}
        ).status_code
        == 404
    )


def test_signed_out_the_preview_sends_to_the_sign_in_page(server: RunningServer) -> None:
    with httpx.Client(base_url=server.url) as anonymous:
        response = anonymous.get("/settings/preview/saved", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login")
