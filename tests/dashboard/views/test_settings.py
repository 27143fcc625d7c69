"""Settings pages: branding and email (owners and admins), logo checks, the team (owners)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

import httpx
import pytest
import stripe
from sqlalchemy import delete, select

from relink.dashboard.branding import LOGO_MAX_BYTES
from relink.models import DkimKey, EmailConfirmation, MailboxMessage, Platform, Role, User
from relink.outbox.dispatcher import OutboxDispatcher
from relink.platforms.service import NewPlatform
from relink.runtime import Runtime
from relink.worker import HANDLERS
from tests.conftest import RunningServer
from tests.dashboard.factories import (
    PASSWORD,
    SCRIPT,
    add_user,
    broken_account,
    csrf_of,
    emailed_link,
    member,
    page_csrf,
    png,
    sign_in,
)
from tests.email.smtp_server import SmtpServer


def _form(platform: Platform, **changes: str) -> dict[str, str]:
    values = {
        "name": platform.name,
        "brand_color": platform.brand_color,
        "support_email": platform.support_email or "",
        "email_sender_name": platform.email_sender_name or "",
        "default_locale": platform.default_locale,
        "hosted_relink_enabled": "1" if platform.hosted_relink_enabled else "",
    }
    values.update(changes)
    return values


def _platform(server: RunningServer, platform: NewPlatform) -> Platform:
    with server.runtime.database.read_only() as db:
        found = db.get(Platform, platform.platform.id)
        assert found is not None
        return found


def _save(
    client: httpx.Client,
    current: Platform,
    fields: Mapping[str, str] | None = None,
    *,
    logo: tuple[str, bytes, str] | None = None,
    **changes: str,
) -> httpx.Response:
    """Post the settings form: ``current`` with ``fields`` (a field named at run time)
    and ``changes``."""
    data = {
        "csrf_token": page_csrf(client, "/settings"),
        **_form(current, **(fields or {}), **changes),
    }
    return client.post("/settings", data=data, files={"logo": logo} if logo else None)


# -- branding ---------------------------------------------------------------------------------


def test_an_owner_saves_branding_email_and_language_settings(
    server: RunningServer, platform: NewPlatform, owner: httpx.Client
) -> None:
    response = _save(
        owner,
        _platform(server, platform),
        name="Acme Bank",
        brand_color="#AA3300",
        support_email="help@acme.example",
        email_sender_name="Acme Payments",
        default_locale="de",
    )
    assert response.status_code == 303
    saved = _platform(server, platform)
    assert (
        saved.name,
        saved.brand_color,
        saved.support_email,
        saved.email_sender_name,
        saved.default_locale,
        saved.hosted_relink_enabled,
    ) == ("Acme Bank", "#aa3300", "help@acme.example", "Acme Payments", "de", True)


def test_a_colour_that_is_not_rrggbb_is_an_error_next_to_the_field_and_saves_nothing(
    server: RunningServer, platform: NewPlatform, owner: httpx.Client
) -> None:
    before = _platform(server, platform)
    response = _save(owner, before, name="Changed", brand_color="red;}")
    assert response.status_code == 400
    assert 'id="brand_color-error"' in response.text
    assert _platform(server, platform).name == before.name


def test_a_png_logo_is_stored(
    server: RunningServer, platform: NewPlatform, owner: httpx.Client
) -> None:
    logo = png()
    response = _save(owner, _platform(server, platform), logo=("logo.png", logo, "image/png"))
    assert response.status_code == 303
    saved = _platform(server, platform)
    assert (saved.logo_png, saved.logo_content_type) == (logo, "image/png")
    served = owner.get("/settings/logo.png")
    assert (served.content, served.headers["content-type"]) == (logo, "image/png")


def test_a_logo_that_is_not_a_png_is_refused_whatever_its_name_and_type(
    server: RunningServer, platform: NewPlatform, owner: httpx.Client
) -> None:
    fake = b"GIF89a" + b"\x00" * 64
    response = _save(owner, _platform(server, platform), logo=("logo.png", fake, "image/png"))
    assert response.status_code == 400
    assert 'id="logo-error"' in response.text and "must be a PNG" in response.text
    assert _platform(server, platform).logo_png is None


def test_a_logo_over_256_kb_is_refused(
    server: RunningServer, platform: NewPlatform, owner: httpx.Client
) -> None:
    big = png(extra=LOGO_MAX_BYTES)
    response = _save(owner, _platform(server, platform), logo=("logo.png", big, "image/png"))
    assert response.status_code == 400
    assert 'id="logo-error"' in response.text and "at most 256 KB" in response.text
    assert _platform(server, platform).logo_png is None


def test_a_viewer_cannot_change_settings(
    server: RunningServer, platform: NewPlatform, viewer: httpx.Client
) -> None:
    response = _save(viewer, _platform(server, platform), name="Hijacked")
    assert response.status_code == 403
    assert _platform(server, platform).name != "Hijacked"


def test_markup_in_the_business_name_renders_as_text(
    server: RunningServer, platform: NewPlatform, owner: httpx.Client
) -> None:
    _save(owner, _platform(server, platform), name=SCRIPT)
    for path in ("/settings", "/accounts", "/settings/team"):
        html = owner.get(path).text
        assert SCRIPT not in html, path
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html, path


# -- hosted relink on/off ---------------------------------------------------------------------


def test_with_hosted_relink_off_request_relink_is_refused_with_the_reason(
    server: RunningServer, platform: NewPlatform, owner: httpx.Client, client: stripe.StripeClient
) -> None:
    account = broken_account(client, platform.owner.email)
    _save(owner, _platform(server, platform), hosted_relink_enabled="")
    assert _platform(server, platform).hosted_relink_enabled is False
    confirm = owner.get(f"/accounts/request-relink?account={account.id}").text
    assert "0 emails will go out." in confirm and "reason=hosted_relink_disabled" in confirm
    response = owner.post(
        f"/accounts/{account.id}/request-relink",
        data={"csrf_token": page_csrf(owner, f"/accounts/{account.id}")},
    )
    assert response.status_code == 400
    assert "Hosted relink is turned off" in response.text


# -- team -----------------------------------------------------------------------------------------


def _invite(client: httpx.Client, email: str, role: str = "admin") -> httpx.Response:
    return client.post(
        "/settings/team/invite",
        data={"csrf_token": page_csrf(client, "/settings/team"), "email": email, "role": role},
    )


def _user(server: RunningServer, email: str) -> User | None:
    with server.runtime.database.read_only() as db:
        return db.scalars(select(User).where(User.email == email)).first()


def test_an_invitation_is_emailed_to_the_invitee_and_never_shown_in_the_dashboard(
    server: RunningServer,
    platform: NewPlatform,
    owner: httpx.Client,
    smtp: SmtpServer,
    smtp_runtime: Runtime,
) -> None:
    email = f"new-{platform.platform.id.lower()}@example.com"
    response = _invite(owner, email)
    assert (response.status_code, response.headers["location"]) == (
        303,
        "/settings/team?notice=invitation_sent",
    )
    invited = _user(server, email)
    assert invited is not None
    assert (invited.role, invited.email_confirmed_at) == ("admin", None)
    with server.runtime.database.read_only() as db:
        confirmation = db.scalars(
            select(EmailConfirmation).where(EmailConfirmation.user_id == invited.id)
        ).one()
    assert confirmation.invitation is True
    team_page = owner.get(response.headers["location"]).text
    assert "The invitation is on its way" in team_page
    assert "/confirm-email/" not in team_page

    link = emailed_link(smtp, smtp_runtime, email, "/confirm-email/")
    assert link.startswith(f"{server.url}/confirm-email/")
    for path in ("/settings/team", "/accounts", "/settings"):
        assert link.removeprefix(server.url) not in owner.get(path).text


def test_an_invited_user_sets_a_password_through_the_emailed_link_and_can_sign_in(
    server: RunningServer,
    platform: NewPlatform,
    owner: httpx.Client,
    smtp: SmtpServer,
    smtp_runtime: Runtime,
) -> None:
    email = f"joiner-{platform.platform.id.lower()}@example.com"
    _invite(owner, email, "viewer")
    path = emailed_link(smtp, smtp_runtime, email, "/confirm-email/").removeprefix(server.url)
    with httpx.Client(base_url=server.url, timeout=20) as invited:
        form = invited.get(path)
        short = invited.post(path, data={"csrf_token": csrf_of(form.text), "password": "short"})
        assert short.status_code == 400 and "Use at least 12 characters." in short.text
        done = invited.post(path, data={"csrf_token": csrf_of(form.text), "password": PASSWORD})
        assert done.headers["location"] == "/login?notice=confirmed"
        assert sign_in(invited, email).status_code == 303
        assert invited.get(path).status_code == 404  # used once
    confirmed = _user(server, email)
    assert confirmed is not None and confirmed.email_confirmed_at is not None


def test_an_owner_cannot_confirm_an_outside_address_so_test_emails_never_reach_it(
    server: RunningServer,
    platform: NewPlatform,
    owner: httpx.Client,
    client: stripe.StripeClient,
    smtp: SmtpServer,
    smtp_runtime: Runtime,
) -> None:
    stranger = f"stranger-{platform.platform.id.lower()}@outside.example"
    invited = _invite(owner, stranger, "viewer")
    assert "/confirm-email/" not in owner.get(invited.headers["location"]).text
    account = broken_account(client, stranger)
    owner.post(
        f"/accounts/{account.id}/request-relink",
        data={"csrf_token": page_csrf(owner, f"/accounts/{account.id}")},
    )
    OutboxDispatcher(smtp_runtime, HANDLERS).drain()
    # The invitation reached the stranger (from whom only they can confirm); no relink
    # email did, since the address is not a confirmed team member's.
    assert [m.message["Subject"] for m in smtp.handler.to(stranger)] == [
        "You are invited to Acme Lending on Relink"
    ]


def test_resending_an_invitation_emails_a_new_link_and_the_old_one_stops_working(
    server: RunningServer,
    platform: NewPlatform,
    owner: httpx.Client,
    smtp: SmtpServer,
    smtp_runtime: Runtime,
) -> None:
    email = f"again-{platform.platform.id.lower()}@example.com"
    _invite(owner, email)
    first = emailed_link(smtp, smtp_runtime, email, "/confirm-email/")
    target = _user(server, email)
    assert target is not None
    resent = owner.post(
        f"/settings/team/{target.id}/resend-invitation",
        data={"csrf_token": page_csrf(owner, "/settings/team")},
    )
    assert resent.headers["location"] == "/settings/team?notice=invitation_resent"
    second = emailed_link(smtp, smtp_runtime, email, "/confirm-email/")
    assert second != first
    with httpx.Client(timeout=20) as invitee:
        assert invitee.get(first).status_code == 404
        assert invitee.get(second).status_code == 200


def test_a_confirmed_user_gets_no_invitation_again(
    server: RunningServer, platform: NewPlatform, owner: httpx.Client
) -> None:
    response = owner.post(
        f"/settings/team/{platform.owner.id}/resend-invitation",
        data={"csrf_token": page_csrf(owner, "/settings/team")},
    )
    assert response.status_code == 400
    assert "already confirmed" in response.text


def test_the_mailbox_shows_an_invitation_only_to_the_user_it_was_sent_to(
    server: RunningServer, platform: NewPlatform, owner: httpx.Client
) -> None:
    email = f"private-{platform.platform.id.lower()}@example.com"
    _invite(owner, email)
    OutboxDispatcher(server.runtime, HANDLERS).drain()  # the test server's mailbox backend
    with server.runtime.database.read_only() as db:
        stored = db.scalars(select(MailboxMessage).where(MailboxMessage.to == email)).one()
    assert "/confirm-email/" in stored.text
    assert stored.id not in owner.get("/mailbox").text
    assert owner.get(f"/mailbox/{stored.id}.html").status_code == 404


def test_an_owner_changes_a_role(
    server: RunningServer, platform: NewPlatform, owner: httpx.Client
) -> None:
    email = add_user(server, platform, Role.viewer)
    target = _user(server, email)
    assert target is not None
    response = owner.post(
        f"/settings/team/{target.id}/role",
        data={"csrf_token": page_csrf(owner, "/settings/team"), "role": "admin"},
    )
    assert response.status_code == 303
    changed = _user(server, email)
    assert changed is not None and changed.role == "admin"


def test_the_last_owner_cannot_be_demoted(
    server: RunningServer, platform: NewPlatform, owner: httpx.Client
) -> None:
    response = owner.post(
        f"/settings/team/{platform.owner.id}/role",
        data={"csrf_token": page_csrf(owner, "/settings/team"), "role": "viewer"},
    )
    assert response.status_code == 400
    assert "at least one owner" in response.text
    kept = _user(server, platform.owner.email)
    assert kept is not None and kept.role == "owner"


def test_an_owner_cannot_remove_themself(
    server: RunningServer, platform: NewPlatform, owner: httpx.Client
) -> None:
    response = owner.post(
        f"/settings/team/{platform.owner.id}/remove",
        data={"csrf_token": page_csrf(owner, "/settings/team")},
    )
    assert response.status_code == 400
    assert _user(server, platform.owner.email) is not None


def _team(server: RunningServer, platform: NewPlatform) -> list[User]:
    with server.runtime.database.read_only() as db:
        return list(db.scalars(select(User).where(User.platform_id == platform.platform.id)))


def test_a_removed_user_is_signed_out_and_gone(
    server: RunningServer, platform: NewPlatform, owner: httpx.Client
) -> None:
    with member(server, platform, Role.admin) as admin:
        target = next(u for u in _team(server, platform) if u.role == "admin")
        response = owner.post(
            f"/settings/team/{target.id}/remove",
            data={"csrf_token": page_csrf(owner, "/settings/team")},
        )
        assert response.status_code == 303
        assert admin.get("/accounts").status_code == 303  # back to the sign-in page
    assert _user(server, target.email) is None


@pytest.mark.parametrize("role", [Role.viewer, Role.admin])
def test_only_owners_can_invite_change_roles_or_remove_users(
    server: RunningServer, platform: NewPlatform, role: Role
) -> None:
    with member(server, platform, role) as client_of_role:
        token = page_csrf(client_of_role, "/settings/team")
        for path, data in (
            ("/settings/team/invite", {"email": "x@example.com", "role": "owner"}),
            (f"/settings/team/{platform.owner.id}/resend-invitation", {}),
            (f"/settings/team/{platform.owner.id}/role", {"role": "viewer"}),
            (f"/settings/team/{platform.owner.id}/remove", {}),
        ):
            response = client_of_role.post(path, data={"csrf_token": token, **data})
            assert response.status_code == 403, path
    assert _user(server, "x@example.com") is None
    kept = _user(server, platform.owner.email)
    assert kept is not None and kept.role == "owner"


@pytest.mark.parametrize("field", ["email_sender_name", "name"])
@pytest.mark.parametrize("breaking", ["\r\n", "\n", "\x00", "\u2028"])
def test_a_line_break_in_a_name_for_the_emails_is_refused_by_the_field_and_saves_nothing(
    server: RunningServer, platform: NewPlatform, owner: httpx.Client, field: str, breaking: str
) -> None:
    before = _platform(server, platform)
    response = _save(owner, before, {field: f"Acme{breaking}Bcc: someone@example.com"})
    assert response.status_code == 400
    assert f'id="{field}-error"' in response.text
    assert "without line breaks or control characters" in response.text
    after = _platform(server, platform)
    assert (after.name, after.email_sender_name) == (before.name, before.email_sender_name)


# -- email signing ----------------------------------------------------------------------------


def test_the_settings_say_whether_a_dkim_key_signs_the_sender_domain(
    server: RunningServer, owner: httpx.Client
) -> None:
    unsigned = owner.get("/settings")
    assert "Emails from localhost go out unsigned" in unsigned.text
    assert "relink dkim generate --domain localhost --selector relink1" in unsigned.text
    # `relink dkim generate` refuses a one-label domain; the row is made here directly.
    with server.runtime.database.unit_of_work() as db:
        db.add(
            DkimKey(
                domain="localhost",
                selector="relink7",
                private_key_sealed=b"sealed",
                public_key="AAAA",
                created_at=dt.datetime.now(dt.UTC),
            )
        )
    try:
        signed = owner.get("/settings")
    finally:
        with server.runtime.database.unit_of_work() as db:
            db.execute(delete(DkimKey).where(DkimKey.domain == "localhost"))
    assert "Emails from localhost are signed with the DKIM key of selector relink7." in signed.text


def test_an_owner_saves_the_website_and_the_landing_page_repeats_it(
    server: RunningServer, platform: NewPlatform, owner: httpx.Client
) -> None:
    response = _save(owner, _platform(server, platform), website_url=" https://acme.example/help ")
    assert response.status_code == 303
    assert _platform(server, platform).website_url == "https://acme.example/help"
    assert 'value="https://acme.example/help"' in owner.get("/settings").text


@pytest.mark.parametrize("website", ["javascript:alert(1)", "acme.example", "ftp://acme.example"])
def test_a_website_that_is_not_an_http_address_is_an_error_and_saves_nothing(
    server: RunningServer, platform: NewPlatform, owner: httpx.Client, website: str
) -> None:
    before = _platform(server, platform)
    response = _save(owner, before, name="Changed", website_url=website)
    assert response.status_code == 400
    assert 'id="website_url-error"' in response.text
    after = _platform(server, platform)
    assert (after.name, after.website_url) == (before.name, before.website_url)


def test_a_previewed_website_is_saved_with_the_draft(
    server: RunningServer, platform: NewPlatform, owner: httpx.Client
) -> None:
    current = _platform(server, platform)
    data = {
        "csrf_token": page_csrf(owner, "/settings"),
        **_form(current, website_url="https://preview.example"),
    }
    preview = owner.post("/settings/preview", data=data)
    assert preview.status_code == 303
    assert _platform(server, platform).website_url == current.website_url  # not saved yet
    landing = owner.get(preview.headers["location"] + "/landing")
    assert landing.status_code == 200
    assert 'href="https://preview.example"' in landing.text
    saved = owner.post(
        preview.headers["location"] + "/save",
        data={"csrf_token": page_csrf(owner, preview.headers["location"])},
    )
    assert saved.status_code == 303
    assert _platform(server, platform).website_url == "https://preview.example"
