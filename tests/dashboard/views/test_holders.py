"""Customers: editing the email address (how missing_email is fixed)."""

from __future__ import annotations

import httpx
import pytest
import stripe

from relink.email.bounces import suppress
from relink.email.opt_outs import opt_out
from relink.kit import clock
from relink.kit.dates import format_day
from relink.models import OptOutSource, SuppressionReason
from relink.platforms.service import NewPlatform
from relink.tenancy import Scope, load_platform_scope
from tests.conftest import RunningServer, make_platform
from tests.dashboard.factories import page_csrf, signed_in_client
from tests.email.opt_out_factories import opt_outs_of
from tests.factories import create_customer, create_test_account, unchecked
from tests.hosted.pages import text_of


# With ``<`` in it, a To header names another mailbox: the API refuses it, and so does the
# dashboard (the worker would otherwise mail ``script``).
@pytest.mark.parametrize("address", ["not-an-email", "ada<script>@example.com"])
def test_an_invalid_email_is_refused_with_a_message_next_to_the_field(
    owner: httpx.Client, client: stripe.StripeClient, address: str
) -> None:
    customer = create_customer(client)
    response = owner.post(
        f"/customers/{customer.id}",
        data={"csrf_token": page_csrf(owner), "email": address, "language": ""},
    )
    assert response.status_code == 400
    assert 'id="email-error"' in response.text
    assert client.v1.customers.retrieve(customer.id).email is None


def test_saving_sets_the_email_and_preferred_language(
    owner: httpx.Client, client: stripe.StripeClient
) -> None:
    customer = create_customer(client)
    response = owner.post(
        f"/customers/{customer.id}",
        data={"csrf_token": page_csrf(owner), "email": "fixed@example.com", "language": "de"},
    )
    assert response.status_code == 303
    saved = client.v1.customers.retrieve(customer.id)
    assert (saved.email, saved.preferred_locales) == ("fixed@example.com", ["de"])


def test_without_email_lists_only_the_customers_a_relink_email_cannot_reach(
    owner: httpx.Client, client: stripe.StripeClient
) -> None:
    missing = create_customer(client, name="No Address")
    reachable = create_customer(client, email="reach@example.com", name="Has Address")
    listed = owner.get("/customers?without_email=1").text
    assert missing.id in listed and reachable.id not in listed
    assert 'name="without_email" value="1" checked' in listed
    both = owner.get("/customers").text
    assert missing.id in both and reachable.id in both


# -- the suppression list ---------------------------------------------------------------------


def _suppress(server: RunningServer, platform: NewPlatform, address: str) -> None:
    scope = Scope(platform.platform.id, livemode=False)
    with server.runtime.database.unit_of_work() as db:
        suppress(
            db,
            scope,
            address,
            SuppressionReason.bounced,
            "550 5.1.1 <a@b>: User unknown",
            None,
            scope.now(),
        )


def test_the_holder_page_shows_a_suppressed_address_and_the_operator_lifts_it(
    server: RunningServer, platform: NewPlatform, owner: httpx.Client, client: stripe.StripeClient
) -> None:
    customer = create_customer(client, email="gone@example.com")
    _suppress(server, platform, "gone@example.com")

    shown = owner.get(f"/customers/{customer.id}")
    assert "an email to gone@example.com bounced" in shown.text
    assert "550 5.1.1 &lt;a@b&gt;: User unknown" in shown.text
    confirm = owner.get(f"/customers/{customer.id}/lift-suppression")
    assert "Relink will email gone@example.com again." in confirm.text
    assert "no longer suppressed" not in confirm.text  # nothing lifted by looking
    lifted = owner.post(
        f"/customers/{customer.id}/lift-suppression",
        data={"csrf_token": page_csrf(owner, f"/customers/{customer.id}/lift-suppression")},
    )

    assert lifted.status_code == 303
    assert lifted.headers["location"] == f"/customers/{customer.id}?notice=suppression_lifted"
    after = owner.get(f"/customers/{customer.id}")
    assert "was lifted on" in after.text and platform.owner.email in after.text


def test_lifting_without_the_csrf_token_is_refused_and_changes_nothing(
    server: RunningServer, platform: NewPlatform, owner: httpx.Client, client: stripe.StripeClient
) -> None:
    customer = create_customer(client, email="gone2@example.com")
    _suppress(server, platform, "gone2@example.com")

    refused = owner.post(f"/customers/{customer.id}/lift-suppression", data={})

    assert refused.status_code == 403
    assert "an email to gone2@example.com bounced" in owner.get(f"/customers/{customer.id}").text


# -- reminder opt-outs ------------------------------------------------------------------------


def _opted_out(server: RunningServer, platform: NewPlatform, holder_id: str) -> None:
    with server.runtime.database.unit_of_work() as db:
        scope = load_platform_scope(db, platform.platform.id, False)
        opt_out(db, scope, holder_id, OptOutSource.one_click, scope.now())


def _in_force(server: RunningServer, holder_id: str) -> bool:
    return any(row.cleared_at is None for row in opt_outs_of(server.runtime, holder_id))


def test_the_holder_and_account_pages_say_when_the_holder_opted_out(
    server: RunningServer, platform: NewPlatform, owner: httpx.Client, client: stripe.StripeClient
) -> None:
    customer = create_customer(client, email=platform.owner.email)
    account = create_test_account(client, customer=customer.id)
    before = owner.get(f"/customers/{customer.id}")
    assert "Automatic reminders go to this holder" in before.text
    assert "Opted out of reminders" not in owner.get(f"/accounts/{account.id}").text

    _opted_out(server, platform, customer.id)

    today = format_day(clock.now(), locale="en", time_zone="UTC")
    shown = text_of(owner.get(f"/customers/{customer.id}"))
    assert f"Opted out of reminders on {today} (with the unsubscribe button" in shown
    assert "Clear the opt-out…" in shown
    assert f"Opted out of reminders on {today}" in text_of(owner.get(f"/accounts/{account.id}"))


def test_an_owner_clears_an_opt_out_after_a_confirmation(
    server: RunningServer, platform: NewPlatform, owner: httpx.Client, client: stripe.StripeClient
) -> None:
    customer = create_customer(client, email=platform.owner.email)
    _opted_out(server, platform, customer.id)
    path = f"/customers/{customer.id}/clear-opt-out"

    confirm = owner.get(path)
    assert confirm.status_code == 200 and "Clear the opt-out" in confirm.text
    assert _in_force(server, customer.id)  # nothing cleared by looking
    cleared = owner.post(path, data={"csrf_token": page_csrf(owner, path)})

    assert cleared.status_code == 303
    assert cleared.headers["location"] == f"/customers/{customer.id}?notice=opt_out_cleared"
    assert not _in_force(server, customer.id)
    [row] = opt_outs_of(server.runtime, customer.id)
    assert row.cleared_by == platform.owner.email
    after = owner.get(cleared.headers["location"]).text
    assert "automatic reminders go to this holder again" in after
    again = owner.post(path, data={"csrf_token": page_csrf(owner, path)})
    assert again.headers["location"] == f"/customers/{customer.id}?notice=not_opted_out"


def test_clearing_without_the_csrf_token_is_refused_and_changes_nothing(
    server: RunningServer, platform: NewPlatform, owner: httpx.Client, client: stripe.StripeClient
) -> None:
    customer = create_customer(client, email=platform.owner.email)
    _opted_out(server, platform, customer.id)
    path = f"/customers/{customer.id}/clear-opt-out"
    for fields in ({}, {"csrf_token": "0" * 64}):
        assert owner.post(path, data=fields).status_code == 403
    assert _in_force(server, customer.id)


def test_a_viewer_sees_the_opt_out_but_cannot_clear_it(
    server: RunningServer, platform: NewPlatform, viewer: httpx.Client, client: stripe.StripeClient
) -> None:
    customer = create_customer(client, email=platform.owner.email)
    _opted_out(server, platform, customer.id)
    path = f"/customers/{customer.id}/clear-opt-out"

    shown = viewer.get(f"/customers/{customer.id}").text
    assert "Opted out of reminders on" in shown and "Clear the opt-out…" not in shown
    assert "Only owners and admins can clear an opt-out." in viewer.get(path).text
    refused = viewer.post(path, data={"csrf_token": page_csrf(viewer, path)})

    assert refused.status_code == 403
    assert _in_force(server, customer.id)


def test_another_platforms_operator_cannot_see_or_clear_the_opt_out(
    server: RunningServer, platform: NewPlatform, client: stripe.StripeClient
) -> None:
    customer = create_customer(client, email=platform.owner.email)
    _opted_out(server, platform, customer.id)
    with server.runtime.database.unit_of_work() as db:
        other = make_platform(db, name="Other Platform")
    stranger = signed_in_client(server, other.owner.email)
    try:
        path = f"/customers/{customer.id}/clear-opt-out"
        assert stranger.get(path).status_code == 404
        refused = stranger.post(path, data={"csrf_token": page_csrf(stranger)})
        assert refused.status_code == 404
    finally:
        stranger.close()
    assert _in_force(server, customer.id)


def test_a_connected_accounts_opt_out_shows_and_clears_on_its_page(
    server: RunningServer, platform: NewPlatform, owner: httpx.Client, client: stripe.StripeClient
) -> None:
    connected = client.v1.accounts.create(params=unchecked({"email": platform.owner.email}))
    _opted_out(server, platform, connected.id)
    assert "Opted out of reminders on" in owner.get(f"/connected-accounts/{connected.id}").text
    path = f"/connected-accounts/{connected.id}/clear-opt-out"
    assert "Clear the opt-out" in owner.get(path).text
    cleared = owner.post(path, data={"csrf_token": page_csrf(owner, path)})
    assert cleared.status_code == 303
    assert not _in_force(server, connected.id)
