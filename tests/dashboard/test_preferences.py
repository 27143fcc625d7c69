"""A team user's own preferences (relink/dashboard/preferences.py): the time zone every
dashboard date is shown in. The CSV export stays in UTC whatever the zone."""

from __future__ import annotations

import csv
import io

import httpx
import pytest
import stripe
from sqlalchemy import select

from relink.models import Role, User
from relink.platforms.service import NewPlatform
from tests.conftest import RunningServer, make_platform
from tests.dashboard.factories import add_user, broken_account, page_csrf, signed_in_client


def _save(client: httpx.Client, **fields: str) -> httpx.Response:
    return client.post(
        "/account/preferences", data={"csrf_token": page_csrf(client, "/account"), **fields}
    )


def _zone_of(server: RunningServer, email: str) -> str:
    with server.runtime.database.read_only() as db:
        return db.scalars(select(User.time_zone).where(User.email == email)).one()


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
