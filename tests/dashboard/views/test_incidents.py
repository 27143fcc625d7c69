"""The incident banner and releasing an incident's hold from the dashboard."""

from __future__ import annotations

import httpx
import stripe

from relink.platforms.service import NewPlatform
from relink.runtime import Runtime
from tests.dashboard.factories import page_csrf
from tests.institutions.test_incidents import BANK, _accounts, _break, _detect, _held, _open, _scope


def test_the_dashboard_shows_the_banner_and_an_admin_releases_the_hold_after_confirming(
    runtime: Runtime, client: stripe.StripeClient, platform: NewPlatform, owner: httpx.Client
) -> None:
    _break(client, _accounts(client, BANK, 3))
    scope = _scope(platform)
    _detect(runtime, scope)
    html = owner.get("/accounts").text
    assert "Possible incident at" in html
    assert "3 accounts there stopped working within a short time, out of 3." in html
    [incident] = _open(runtime, scope)
    confirm = owner.get(f"/incidents/{incident}/release")
    assert confirm.status_code == 200 and "Release the hold" in confirm.text
    assert _held(runtime, scope) == {BANK}  # the GET changes nothing

    refused = owner.post(f"/incidents/{incident}/release", data={})
    assert refused.status_code == 403 and _held(runtime, scope) == {BANK}
    done = owner.post(
        f"/incidents/{incident}/release", data={"csrf_token": page_csrf(owner, "/institutions")}
    )
    assert done.status_code == 303 and done.headers["location"].startswith("/institutions?notice=")
    after = owner.get(done.headers["location"]).text
    assert "The hold is released" in after and "Possible incident at" not in after
    assert _held(runtime, scope) == set()
    again = owner.post(
        f"/incidents/{incident}/release", data={"csrf_token": page_csrf(owner, "/institutions")}
    )
    assert "had already been released" in owner.get(again.headers["location"]).text
    assert owner.get(f"/incidents/{incident}/release").status_code == 404


def test_a_viewer_sees_the_banner_but_cannot_release(
    runtime: Runtime, client: stripe.StripeClient, platform: NewPlatform, viewer: httpx.Client
) -> None:
    _break(client, _accounts(client, BANK, 3))
    scope = _scope(platform)
    _detect(runtime, scope)
    [incident] = _open(runtime, scope)
    assert (
        "Only owners and admins can release a hold."
        in viewer.get(f"/incidents/{incident}/release").text
    )
    refused = viewer.post(
        f"/incidents/{incident}/release", data={"csrf_token": page_csrf(viewer, "/institutions")}
    )
    assert refused.status_code == 403
    assert _held(runtime, scope) == {BANK}
