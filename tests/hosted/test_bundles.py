"""The bundle page over HTTP: it lists the holder's connections with their state and a
button each, counts the repaired ones, returns to itself after each repair, and shows
only its own platform's sessions."""

from __future__ import annotations

import re

import httpx
import stripe
from sqlalchemy import update

from relink.models import Session
from relink.platforms.service import NewPlatform
from relink.runtime import Runtime
from relink.sessions.bundles import bundle_url
from tests.conftest import RunningServer, make_platform, stripe_client
from tests.factories import WireObject, drain_outbox, timeline_kinds
from tests.hosted.factories import (
    broken_accounts_of_one_holder,
    bundled_sessions_of,
    request_in_bulk,
)
from tests.hosted.pages import HostedPages, text_of
from tests.hosted.test_scanners import BROWSER_AGENT

REPAIR = re.compile(r'<form method="get" action="(/relink/[A-Za-z0-9_-]+)">')


def _bundle(
    client: stripe.StripeClient, platform: NewPlatform, runtime: Runtime
) -> tuple[stripe.Customer, list[WireObject], list[Session], str]:
    customer, accounts = broken_accounts_of_one_holder(client, platform.owner.email)
    request_in_bulk(runtime, platform.platform.id, [a.id for a in accounts])
    sessions = bundled_sessions_of(runtime, [a.id for a in accounts])
    assert sessions[0].bundle_id is not None
    return customer, accounts, sessions, bundle_url(runtime, sessions[0].bundle_id)


def test_the_page_lists_every_connection_with_a_repair_button_and_the_progress(
    client: stripe.StripeClient, platform: NewPlatform, runtime: Runtime, http: httpx.Client
) -> None:
    _, accounts, sessions, url = _bundle(client, platform, runtime)
    page = http.get(url)
    assert page.status_code == 200
    text = text_of(page)
    assert "Reconnect your bank accounts" in text
    assert "0 of 3 repaired" in text
    for account in accounts:
        assert f"••••{account.last4}" in text
    assert text.count("Needs to be reconnected") == 3
    assert sorted(REPAIR.findall(page.text)) == sorted(
        f"/relink/{runtime.link_token(s.id)}" for s in sessions
    )
    assert page.headers["cache-control"] == "no-store"


def test_a_repair_returns_to_the_bundle_page_which_counts_it(
    client: stripe.StripeClient, platform: NewPlatform, runtime: Runtime, http: httpx.Client
) -> None:
    customer, _, sessions, url = _bundle(client, platform, runtime)
    pages = HostedPages(
        http, f"{runtime.settings.public_url}/relink/{runtime.link_token(sessions[0].id)}"
    )
    assert "Back to all your accounts to reconnect" in text_of(pages.open())
    pages.press_continue()
    done = pages.post("credentials", username=str(customer.id).lower(), password="pw")
    assert done.status_code == 303
    assert done.headers["location"] == url
    text = text_of(http.get(url))
    assert "1 of 3 repaired" in text
    assert text.count("Needs to be reconnected") == 2 and "Reconnected" in text


def test_a_machine_fetching_the_page_records_nothing(
    client: stripe.StripeClient, platform: NewPlatform, runtime: Runtime, http: httpx.Client
) -> None:
    _, _, sessions, url = _bundle(client, platform, runtime)
    assert http.head(url, headers={"user-agent": "Mimecast Safe Links"}).status_code == 200
    assert http.get(url).status_code == 200
    after = bundled_sessions_of(runtime, [str(s.relink_account_id) for s in sessions])
    assert [s.link_last_visit_at for s in after] == [None, None, None]


def test_an_unknown_or_malformed_token_is_not_found(
    runtime: Runtime, http: httpx.Client, client: stripe.StripeClient
) -> None:
    base = runtime.settings.public_url
    assert http.get(f"{base}/relinks/{'A' * 43}").status_code == 404
    assert http.get(f"{base}/relinks/not-a-token").status_code == 404


def test_a_bundle_never_shows_another_platforms_sessions(
    client: stripe.StripeClient,
    platform: NewPlatform,
    runtime: Runtime,
    http: httpx.Client,
    server: RunningServer,
) -> None:
    _, _, sessions, url = _bundle(client, platform, runtime)
    with runtime.database.unit_of_work() as db:
        other = make_platform(db, name="Other Lending")
    other_client = stripe_client(server, other.test_secret_key)
    _, _, theirs, _ = _bundle(other_client, other, runtime)
    # A row of the other platform that names this platform's bundle is not shown.
    with runtime.database.unit_of_work() as db:
        db.execute(
            update(Session)
            .where(Session.id == theirs[0].id)
            .values(bundle_id=sessions[0].bundle_id)
        )
    page = http.get(url)
    assert "0 of 3 repaired" in text_of(page)
    assert f"/relink/{runtime.link_token(theirs[0].id)}" not in page.text


def test_opening_each_connection_of_a_bundle_right_after_delivery_is_a_person(
    client: stripe.StripeClient, platform: NewPlatform, runtime: Runtime, http: httpx.Client
) -> None:
    # Three links of one batch opened from one address right after delivery look like a
    # scanner's burst; a bundle's sessions are one email's link, opened in turn.
    _, _, sessions, _ = _bundle(client, platform, runtime)
    drain_outbox(runtime)
    for session in sessions:
        link = f"{runtime.settings.public_url}/relink/{runtime.link_token(session.id)}"
        HostedPages(http, link).open(**{"user-agent": BROWSER_AGENT})
        HostedPages(http, link).press_continue()
    for session in sessions:
        kinds = timeline_kinds(runtime, session.id)
        assert "email_sent" in kinds and "scanned" not in kinds, kinds
        assert kinds[-2:] == ["viewed", "opened"]
