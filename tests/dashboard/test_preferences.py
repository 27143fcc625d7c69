"""A team user's own preferences (relink/dashboard/preferences.py): the time zone every
dashboard date is shown in, and the dashboard's language. The CSV export stays in UTC
whatever the zone."""

from __future__ import annotations

import csv
import io
import re

import httpx
import pytest
import stripe
from sqlalchemy import select

from relink.models import Role, User
from relink.platforms.service import NewPlatform
from tests.conftest import RunningServer, make_platform
from tests.dashboard.factories import (
    add_user,
    broken_account,
    csrf_of,
    page_csrf,
    signed_in_client,
)


def _save(client: httpx.Client, **fields: str) -> httpx.Response:
    values = {"time_zone": "UTC", "locale": "en", **fields}
    return client.post(
        "/account/preferences", data={"csrf_token": page_csrf(client, "/account"), **values}
    )


def _zone_of(server: RunningServer, email: str) -> str:
    with server.runtime.database.read_only() as db:
        return db.scalars(select(User.time_zone).where(User.email == email)).one()


def _locale_of(server: RunningServer, email: str) -> str:
    with server.runtime.database.read_only() as db:
        return db.scalars(select(User.locale).where(User.email == email)).one()


def test_a_new_user_sees_times_in_utc(
    server: RunningServer, platform: NewPlatform, owner: httpx.Client
) -> None:
    assert _zone_of(server, platform.owner.email) == "UTC"
    assert " UTC</td>" in owner.get("/developers").text  # the keys' creation times


def test_a_user_chooses_their_time_zone_and_every_page_shows_it(
    server: RunningServer, platform: NewPlatform, owner: httpx.Client
) -> None:
    response = _save(owner, time_zone="Asia/Kolkata")

    assert response.status_code == 303
    assert response.headers["location"] == "/account?notice=preferences_saved"
    assert _zone_of(server, platform.owner.email) == "Asia/Kolkata"
    page = owner.get("/account?notice=preferences_saved").text
    assert "Your preferences are saved." in page
    assert '<option value="Asia/Kolkata" selected>Asia/Kolkata</option>' in page
    keys = owner.get("/developers").text
    assert " IST</td>" in keys
    assert " UTC</td>" not in keys


@pytest.mark.parametrize("bad", ["Mars/Olympus", "asia/kolkata", "", "Europe/Berlin" + "x" * 80])
def test_a_zone_not_in_the_list_is_refused_and_nothing_changes(
    server: RunningServer, platform: NewPlatform, owner: httpx.Client, bad: str
) -> None:
    response = _save(owner, time_zone=bad)

    assert response.status_code == 400
    assert "Choose a time zone from the list" in response.text
    assert 'href="#time_zone"' in response.text  # the error summary links to the field
    assert 'aria-invalid="true"' in response.text
    assert _zone_of(server, platform.owner.email) == "UTC"


def test_without_the_csrf_token_nothing_changes(
    server: RunningServer, platform: NewPlatform, owner: httpx.Client
) -> None:
    response = owner.post("/account/preferences", data={"time_zone": "Asia/Kolkata"})

    assert response.status_code == 403
    assert _zone_of(server, platform.owner.email) == "UTC"


def test_signed_out_nothing_changes(server: RunningServer, platform: NewPlatform) -> None:
    with httpx.Client(base_url=server.url, follow_redirects=False) as anonymous:
        response = anonymous.post("/account/preferences", data={"time_zone": "Asia/Kolkata"})
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login")
    assert _zone_of(server, platform.owner.email) == "UTC"


def test_a_viewer_sets_their_own_zone_and_no_one_elses(
    server: RunningServer, platform: NewPlatform
) -> None:
    with server.runtime.database.unit_of_work() as db:
        other = make_platform(db, name="Other Lending")
    viewer_email = add_user(server, platform, Role.viewer)
    viewer = signed_in_client(server, viewer_email)
    try:
        assert _save(viewer, time_zone="Asia/Tokyo").status_code == 303
    finally:
        viewer.close()

    assert _zone_of(server, viewer_email) == "Asia/Tokyo"
    assert _zone_of(server, platform.owner.email) == "UTC"
    assert _zone_of(server, other.owner.email) == "UTC"


def test_the_csv_export_stays_in_utc(
    server: RunningServer,
    platform: NewPlatform,
    owner: httpx.Client,
    client: stripe.StripeClient,
) -> None:
    broken_account(client, platform.owner.email)
    assert _save(owner, time_zone="Asia/Tokyo").status_code == 303

    rows = list(csv.DictReader(io.StringIO(owner.get("/accounts/export.csv").text)))

    assert rows and rows[0]["created"].endswith(" UTC")
    assert "JST" not in rows[0]["created"]


def test_another_browser_of_the_user_sees_the_zone_at_once(
    server: RunningServer, platform: NewPlatform, owner: httpx.Client
) -> None:
    elsewhere = signed_in_client(server, platform.owner.email)
    try:
        assert _save(owner, time_zone="Asia/Kolkata").status_code == 303
        assert " IST</td>" in elsewhere.get("/developers").text
    finally:
        elsewhere.close()


# -- language ------------------------------------------------------------------------------


def test_a_user_chooses_german_and_the_dashboard_speaks_it(
    server: RunningServer, platform: NewPlatform, owner: httpx.Client
) -> None:
    response = _save(owner, locale="de", time_zone="Europe/Berlin")

    assert response.status_code == 303
    assert _locale_of(server, platform.owner.email) == "de"
    account = owner.get(response.headers["location"]).text
    assert '<html lang="de">' in account
    assert "Ihre Präferenzen wurden gespeichert." in account  # the notice, too
    assert "<h1>Ihr Konto</h1>" in account
    assert "<dd>Inhaber</dd>" in account  # the role in words, not its code
    accounts = owner.get("/accounts").text
    assert "<h1>Konten</h1>" in accounts
    assert "Keine passenden Konten." in accounts
    assert re.search(r" MES?Z</td>", owner.get("/developers").text)  # German zone names


def test_the_words_for_codes_follow_the_language(
    server: RunningServer,
    platform: NewPlatform,
    owner: httpx.Client,
    client: stripe.StripeClient,
) -> None:
    account = broken_account(client, platform.owner.email)
    assert "Not working because the bank" in owner.get(f"/accounts/{account.id}").text

    assert _save(owner, locale="de").status_code == 303

    page = owner.get(f"/accounts/{account.id}").text
    assert "Funktioniert nicht – die Einwilligung bei der Bank ist abgelaufen." in page
    assert "inactive · access_expired" in page  # the API's code stays as it is


def test_a_teammate_keeps_their_own_language(
    server: RunningServer, platform: NewPlatform, owner: httpx.Client
) -> None:
    viewer_email = add_user(server, platform, Role.viewer)
    viewer = signed_in_client(server, viewer_email)
    try:
        assert _save(owner, locale="de").status_code == 303
        assert "<h1>Accounts</h1>" in viewer.get("/accounts").text
    finally:
        viewer.close()
    assert _locale_of(server, viewer_email) == "en"


@pytest.mark.parametrize("bad", ["fr", "xx", "", "de-DE"])
def test_a_language_the_dashboard_does_not_speak_is_refused_and_nothing_changes(
    server: RunningServer, platform: NewPlatform, owner: httpx.Client, bad: str
) -> None:
    response = _save(owner, locale=bad, time_zone="Asia/Tokyo")

    assert response.status_code == 400
    assert "Choose English or German." in response.text
    assert _locale_of(server, platform.owner.email) == "en"
    assert _zone_of(server, platform.owner.email) == "UTC"  # the valid field is not saved


def test_a_refusal_is_worded_in_the_users_language(
    server: RunningServer, platform: NewPlatform, owner: httpx.Client
) -> None:
    assert _save(owner, locale="de").status_code == 303

    response = _save(owner, locale="de", time_zone="Mars/Olympus")

    assert response.status_code == 400
    assert "Wählen Sie eine Zeitzone aus der Liste" in response.text
    assert "Es gibt ein Problem" in response.text


def test_the_sign_in_page_follows_the_browsers_language(server: RunningServer) -> None:
    with httpx.Client(base_url=server.url) as anonymous:
        german = anonymous.get("/login", headers={"accept-language": "de-DE,de;q=0.9"})
        french = anonymous.get("/login", headers={"accept-language": "fr-FR,en;q=0.5"})
    assert '<html lang="de">' in german.text
    assert "Bei Relink anmelden" in german.text
    assert '<html lang="en">' in french.text  # the dashboard speaks English and German


def test_a_refused_sign_in_is_worded_in_the_browsers_language(
    server: RunningServer, platform: NewPlatform
) -> None:
    with httpx.Client(base_url=server.url, headers={"accept-language": "de"}) as anonymous:
        form = anonymous.get("/login")
        response = anonymous.post(
            "/login",
            data={
                "email": platform.owner.email,
                "password": "not the password",
                "csrf_token": csrf_of(form.text),
            },
        )
    assert response.status_code == 400
    assert "E-Mail-Adresse und Passwort passen nicht zusammen." in response.text


def test_an_error_page_speaks_the_signed_in_users_language(
    server: RunningServer, platform: NewPlatform, owner: httpx.Client
) -> None:
    assert _save(owner, locale="de").status_code == 303

    response = owner.get("/accounts/fca_doesnotexist")

    assert response.status_code == 404
    assert "Nicht gefunden" in response.text


def test_a_refused_branding_form_is_worded_in_the_users_language(
    server: RunningServer, platform: NewPlatform, owner: httpx.Client
) -> None:
    assert _save(owner, locale="de").status_code == 303

    response = owner.post(
        "/settings",
        data={
            "csrf_token": page_csrf(owner, "/settings"),
            "name": "Acme",
            "brand_color": "red",
            "default_locale": "en",
        },
        files={"logo": ("logo.png", b"GIF89a", "image/png")},
    )

    assert response.status_code == 400
    assert "Geben Sie eine Farbe als # und sechs Hexadezimalziffern ein" in response.text
    assert "Das Logo muss ein PNG-Bild sein" in response.text


@pytest.mark.parametrize(
    "path",
    [
        "/accounts",
        "/customers",
        "/connected-accounts",
        "/relink-requests",
        "/reports/outreach",
        "/institutions",
        "/developers",
        "/developers/webhooks",
        "/developers/events",
        "/settings",
        "/settings/team",
        "/settings/automatic-relink",
        "/settings/preview/saved",
        "/account",
    ],
)
def test_every_dashboard_page_renders_in_german(
    server: RunningServer, platform: NewPlatform, owner: httpx.Client, path: str
) -> None:
    assert _save(owner, locale="de").status_code == 303

    response = owner.get(path)

    assert response.status_code == 200
    assert '<html lang="de">' in response.text
    assert "Einstellungen" in response.text  # the navigation, in German
    assert "Skip to content" not in response.text


def test_refusals_on_the_account_and_team_pages_are_worded_in_german(
    server: RunningServer, platform: NewPlatform, owner: httpx.Client
) -> None:
    assert _save(owner, locale="de").status_code == 303

    wrong = owner.post(
        "/account/password",
        data={
            "csrf_token": page_csrf(owner, "/account"),
            "current_password": "not the password",
            "new_password": "a long enough new passphrase",
        },
    )
    invite = owner.post(
        "/settings/team/invite",
        data={"csrf_token": page_csrf(owner, "/settings/team"), "email": "someone@example.com"},
    )

    assert wrong.status_code == 400
    assert "Das ist nicht Ihr aktuelles Passwort." in wrong.text
    assert invite.status_code == 400
    assert "Wählen Sie eine Rolle." in invite.text


def test_refusals_on_the_developers_pages_are_worded_in_german(
    server: RunningServer, platform: NewPlatform, owner: httpx.Client
) -> None:
    assert _save(owner, locale="de").status_code == 303

    response = owner.post(
        "/developers/webhooks",
        data={"csrf_token": page_csrf(owner, "/developers/webhooks"), "url": ""},
    )

    assert response.status_code == 400
    assert "Geben Sie die URL ein, die Ereignisse empfangen soll." in response.text


def test_an_expired_link_is_worded_in_the_browsers_language(server: RunningServer) -> None:
    with httpx.Client(base_url=server.url, headers={"accept-language": "de"}) as anonymous:
        response = anonymous.get("/reset-password/" + "x" * 43)
    assert response.status_code == 404
    assert "Link abgelaufen" in response.text
