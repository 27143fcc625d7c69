"""The hosted link flow (a session without relink_options) through HTTP: pick a bank,
authenticate, choose accounts, consent — checked on the wire with the stripe SDK."""

from __future__ import annotations

import hashlib
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import stripe
from sqlalchemy import text

from relink.outbox.dispatcher import OutboxDispatcher
from relink.platforms.service import NewPlatform
from relink.runtime import Runtime
from relink.sandbox_bank.store import SANDBOX_CLIENT_NAME
from relink.sandbox_bank.testing import BankDriver
from relink.worker import HANDLERS
from tests.conftest import RunningServer
from tests.factories import create_customer, wire
from tests.hosted.connect_factories import (
    link_session,
    linked_at_oauth_bank,
    stored_account,
    stored_authorization,
)
from tests.hosted.factories import bank_account_ids, retrieve_session, set_support_contact
from tests.hosted.pages import HostedPages, text_of
from tests.receivers import webhook_receiver

ACCOUNT_CREATED = "financial_connections.account.created"


def _event_objects(client: stripe.StripeClient, event_type: str) -> list[dict[str, Any]]:
    events = client.v1.events.list(params={"type": event_type}).data
    return [e.data.object.to_dict() for e in events]


def test_hosted_link_session_url_opens_the_institution_picker(
    client: stripe.StripeClient, http: httpx.Client, server: RunningServer
) -> None:
    session = link_session(client)
    assert session.url.startswith(f"{server.url}/connect/")
    page = HostedPages(http, session.url).open()
    assert page.status_code == 200
    assert "Connect your bank account" in text_of(page)
    assert "Bank (OAuth)" in text_of(page) and "Test (Non-OAuth)" in text_of(page)


def test_picker_search_lists_only_matching_institutions(
    client: stripe.StripeClient, http: httpx.Client
) -> None:
    session = link_session(client)
    found = http.get(session.url, params={"q": "down"})
    names = [n for n in ("Down (Error)", "Down (Scheduled)", "Bank (OAuth)") if n in found.text]
    assert names == ["Down (Error)", "Down (Scheduled)"]


def test_picker_allows_its_forms_to_redirect_to_the_bank_origin(
    client: stripe.StripeClient, http: httpx.Client, runtime: Runtime
) -> None:
    session = link_session(client)
    policy = HostedPages(http, session.url).open().headers["content-security-policy"]
    directives = {d.split()[0]: d.split()[1:] for d in policy.split("; ")}
    bank = urlsplit(runtime.settings.resolved_sandbox_bank_url)
    assert f"{bank.scheme}://{bank.netloc}" in directives["form-action"]
    assert directives["script-src"] == ["'self'"]


def test_filters_institution_skips_the_picker(
    client: stripe.StripeClient, http: httpx.Client
) -> None:
    session = link_session(client, filters={"institution": "fcinst_bank_non_oauth"})
    pages = HostedPages(http, session.url)
    landing = text_of(pages.open())
    assert "connect your account at Bank (Non-OAuth)" in landing
    assert "Search for your bank" not in landing
    assert "Sign in to Bank (Non-OAuth)" in text_of(pages.press_continue())
    # Another bank cannot be forced in through the form.
    refused = pages.follow(pages.pick_bank("fcinst_test_non_oauth"))
    assert "Sign in to Bank (Non-OAuth)" in text_of(refused)


SUPPORT_SENTENCE = (
    "Questions about this request? Contact Acme Lending at help@acme.example"
    " or visit acme.example/help"
)


def test_the_picker_repeats_the_platforms_support_email_and_website(
    client: stripe.StripeClient, http: httpx.Client, runtime: Runtime, platform: NewPlatform
) -> None:
    set_support_contact(runtime, platform, "help@acme.example", "https://www.acme.example/help/")
    page = HostedPages(http, link_session(client).url).open()
    assert SUPPORT_SENTENCE in text_of(page)
    assert '<a href="mailto:help@acme.example">help@acme.example</a>' in page.text
    assert '<a href="https://www.acme.example/help/" rel="noopener noreferrer">' in page.text


def test_the_landing_of_a_chosen_bank_repeats_the_support_contact(
    client: stripe.StripeClient, http: httpx.Client, runtime: Runtime, platform: NewPlatform
) -> None:
    set_support_contact(runtime, platform, "help@acme.example", "https://www.acme.example/help/")
    session = link_session(client, filters={"institution": "fcinst_bank_non_oauth"})
    landing = text_of(HostedPages(http, session.url).open())
    assert "connect your account at Bank (Non-OAuth)" in landing
    assert SUPPORT_SENTENCE in landing


def test_the_connect_pages_leave_out_support_details_the_platform_has_not_set(
    client: stripe.StripeClient, http: httpx.Client, runtime: Runtime, platform: NewPlatform
) -> None:
    set_support_contact(runtime, platform, None, None)
    picker = text_of(HostedPages(http, link_session(client).url).open())
    chosen = link_session(client, filters={"institution": "fcinst_bank_non_oauth"})
    landing = text_of(HostedPages(http, chosen.url).open())
    assert "Questions about this request" not in picker
    assert "Questions about this request" not in landing


def test_the_german_connect_landing_repeats_the_support_contact_in_german(
    client: stripe.StripeClient, http: httpx.Client, runtime: Runtime, platform: NewPlatform
) -> None:
    set_support_contact(runtime, platform, "help@acme.example", "https://acme.example")
    session = link_session(client, filters={"institution": "fcinst_bank_non_oauth"})
    page = HostedPages(http, session.url).open(**{"Accept-Language": "de-DE,de;q=0.9"})
    assert (
        "Fragen zu dieser Anfrage? Wenden Sie sich an Acme Lending unter help@acme.example"
        " oder besuchen Sie acme.example" in text_of(page)
    )


def test_oauth_bank_link_goes_to_the_bank_with_pkce_and_state(
    client: stripe.StripeClient, http: httpx.Client
) -> None:
    pages = HostedPages(http, link_session(client).url)
    pages.open()
    bank = pages.pick_bank("fcinst_bank_oauth")
    query = {k: v[0] for k, v in parse_qs(urlsplit(bank.headers["location"]).query).items()}
    assert bank.status_code == 303
    assert query["code_challenge_method"] == "S256" and query["institution"] == "bank_oauth"
    assert len(query["state"]) >= 43 and len(query["code_challenge"]) == 43


def test_oauth_link_creates_the_authorization_and_the_chosen_accounts(
    client: stripe.StripeClient, http: httpx.Client, runtime: Runtime
) -> None:
    session, username = linked_at_oauth_bank(client, http, "Checking", "Savings")
    assert session.status == "succeeded"
    linked = sorted(session.accounts.data, key=lambda a: a.display_name)
    ids = bank_account_ids("bank_oauth", username)
    assert [(a.display_name, a.status, a.category, a.subcategory) for a in linked] == [
        ("Checking", "active", "cash", "checking"),
        ("Savings", "active", "cash", "savings"),
    ]
    for account in linked:
        assert sorted(account.permissions) == ["balances", "payment_method"]
        assert account.institution_name == "Bank (OAuth)"
        [number] = account.account_numbers
        assert (number.identifier_type, number.status) == ("account_number", "transactable")
    [authorization_id] = {a.authorization for a in linked}
    authorization = stored_authorization(runtime, authorization_id)
    # The sandbox bank's token answer names the login, so a later relink can reach it.
    assert authorization.bank_user == username
    assert authorization.grant_sealed is not None
    created = _event_objects(client, ACCOUNT_CREATED)
    assert sorted(o["id"] for o in created) == sorted(a.id for a in linked)
    updated = _event_objects(client, "financial_connections.session.updated")
    assert [(o["id"], o["status"]) for o in updated] == [(session.id, "succeeded")]
    listed = client.v1.financial_connections.accounts.list(params={"session": session.id}).data
    assert sorted(a.id for a in listed) == sorted(a.id for a in linked)
    stored = [stored_account(runtime, a.id) for a in linked]
    assert [(a.bank_account_id, a.session_id) for a in stored] == [
        (ids["Checking"], session.id),
        (ids["Savings"], session.id),
    ]
    assert all(a.relink_due_at is None for a in stored)  # healthy: nothing due


def test_credentials_are_retried_after_refusals_and_the_link_succeeds(
    client: stripe.StripeClient, http: httpx.Client, runtime: Runtime
) -> None:
    customer = create_customer(client)
    username = customer.id.lower()
    created = link_session(client, customer)
    pages = HostedPages(http, created.url)
    pages.open()
    pages.follow(pages.pick_bank("fcinst_bank_non_oauth"))
    refused = pages.sign_in(username, "pw-incorrect")
    assert refused.status_code == 400
    assert "did not accept this username and password" in text_of(refused)
    assert "one more step" in text_of(pages.sign_in(username, "pw-mfa"))
    assert pages.answer("000000").status_code == 400
    choose = pages.answer("123456")
    assert "Choose the accounts to share" in text_of(choose)
    assert pages.choose_accounts().status_code == 400  # none chosen
    checking = bank_account_ids("bank_non_oauth", username)["Checking"]
    assert "Link your accounts" in text_of(pages.choose_accounts(checking))
    pages.link_accounts()

    session = retrieve_session(client, created.id)
    [account] = session.accounts.data
    assert (session.status, account.display_name) == ("succeeded", "Checking")
    assert stored_authorization(runtime, account.authorization).bank_user == username


def test_accounts_page_offers_only_the_filtered_subcategories(
    client: stripe.StripeClient, http: httpx.Client
) -> None:
    created = link_session(client, filters={"account_subcategories": ["savings", "credit_card"]})
    pages = HostedPages(http, created.url)
    pages.open()
    pages.follow(pages.pick_bank("fcinst_test_non_oauth"))
    offered = text_of(pages.sign_in("someone", "pw"))
    assert "Savings" in offered and "Credit Card" in offered
    assert "Checking" not in offered


def test_choosing_more_accounts_than_limits_accounts_is_refused(
    client: stripe.StripeClient, http: httpx.Client
) -> None:
    created = link_session(client, limits={"accounts": 1})
    pages = HostedPages(http, created.url)
    pages.open()
    pages.follow(pages.pick_bank("fcinst_test_non_oauth"))
    pages.sign_in("someone", "pw")
    ids = bank_account_ids("test_non_oauth", "someone")
    refused = pages.choose_accounts(ids["Checking"], ids["Savings"])
    assert refused.status_code == 400
    assert "Choose at most 1 account." in text_of(refused)


def test_tokenized_numbers_are_stored_with_their_expiry(
    client: stripe.StripeClient, http: httpx.Client
) -> None:
    customer = create_customer(client)
    username = customer.id.lower()
    created = link_session(client, customer)
    pages = HostedPages(http, created.url)
    pages.open()
    ids = bank_account_ids("tokenized_account_numbers", username)
    soon = ids["Expiring Soon Checking"]
    pages.through_bank(
        pages.pick_bank("fcinst_tokenized_account_numbers"), username=username, accounts=[soon]
    )
    pages.choose_accounts(soon)
    pages.link_accounts()
    [account] = retrieve_session(client, created.id).accounts.data
    [number] = account.account_numbers
    assert (number.identifier_type, number.status) == ("tokenized_account_number", "transactable")
    assert number.expected_expiry_date is not None


def test_bank_error_keyword_fails_the_link_session(
    client: stripe.StripeClient, http: httpx.Client
) -> None:
    created = link_session(client)
    pages = HostedPages(http, created.url)
    pages.open()
    pages.follow(pages.pick_bank("fcinst_bank_non_oauth"))
    failed = pages.sign_in("someone", "pw-error")
    assert "We could not connect your account" in text_of(failed)
    assert retrieve_session(client, created.id).status == "failed"


def test_giving_up_after_authenticating_cancels_the_link_session(
    client: stripe.StripeClient, http: httpx.Client
) -> None:
    created = link_session(client)
    pages = HostedPages(http, created.url)
    pages.open()
    pages.follow(pages.pick_bank("fcinst_test_non_oauth"))
    pages.sign_in("someone", "pw")
    assert "This request was cancelled" in text_of(pages.give_up())
    session = retrieve_session(client, created.id)
    assert (session.status, session.status_details.cancelled.reason) == ("cancelled", "other")
    assert session.accounts.data == []


def test_down_bank_keeps_the_link_session_pending_with_the_unavailable_page(
    client: stripe.StripeClient, http: httpx.Client
) -> None:
    created = link_session(client)
    pages = HostedPages(http, created.url)
    pages.open()
    pages.follow(pages.pick_bank("fcinst_down_scheduled"))
    page = pages.sign_in("someone", "pw")
    assert "Your bank is unavailable right now, try again later." in text_of(page)
    assert "Choose another bank" in text_of(page)
    assert retrieve_session(client, created.id).status == "pending"


def test_link_forms_without_csrf_are_refused(
    client: stripe.StripeClient, http: httpx.Client
) -> None:
    created = link_session(client)
    refused = http.post(f"{created.url}/institution", data={"institution": "fcinst_test_oauth"})
    assert refused.status_code == 303  # to the link's page, which says why (no resubmission)
    page = http.get(refused.headers["location"])
    assert (page.status_code, "This form has expired" in text_of(page)) == (403, True)
    assert retrieve_session(client, created.id).status == "pending"


def test_link_pages_speak_german(client: stripe.StripeClient, http: httpx.Client) -> None:
    page = http.get(link_session(client).url, headers={"accept-language": "de-DE"})
    assert "Bankkonto verbinden" in text_of(page)


def test_modal_session_opens_the_flow_at_its_client_secret(
    client: stripe.StripeClient, http: httpx.Client, server: RunningServer
) -> None:
    session = link_session(client, ui_mode="modal")
    assert session.url is None
    page = http.get(f"{server.url}/link/{session.client_secret}")
    assert "Connect your bank account" in text_of(page)
    secret = session.client_secret
    forged = secret[:-1] + ("B" if secret.endswith("A") else "A")
    assert http.get(f"{server.url}/link/{forged}").status_code == 404


def test_a_client_secret_is_stored_only_as_its_digest_and_still_opens_its_session(
    client: stripe.StripeClient, http: httpx.Client, server: RunningServer, runtime: Runtime
) -> None:
    # Nothing read from the database opens /link/…; the API still shows the secret.
    session = link_session(client, ui_mode="modal")
    secret = session.client_secret
    assert client.v1.financial_connections.sessions.retrieve(session.id).client_secret == secret
    with runtime.database.read_only() as db:
        row = (
            db.execute(text("SELECT * FROM sessions WHERE id = :id"), {"id": session.id})
            .mappings()
            .one()
        )
    assert not any(secret in str(value) for value in row.values())
    assert row["client_secret_digest"] == hashlib.sha256(secret.encode()).hexdigest()
    assert "Connect your bank account" in text_of(http.get(f"{server.url}/link/{secret}"))


@pytest.mark.usefixtures("private_webhooks")
def test_revoked_at_the_bank_a_linked_account_turns_inactive_with_a_signed_webhook(
    client: stripe.StripeClient, http: httpx.Client, runtime: Runtime, server: RunningServer
) -> None:
    """The Banks issue's story: link at Bank (OAuth) through its pages, revoke the access
    in the bank's security center, refresh → inactive (access_denied), webhook sent."""
    with webhook_receiver() as receiver:
        endpoint = client.v1.webhook_endpoints.create(
            params={
                "url": receiver.url,
                "enabled_events": ["financial_connections.account.deactivated"],
            }
        )
        session, username = linked_at_oauth_bank(client, http, "Checking")
        [account] = session.accounts.data
        with httpx.Client(base_url=server.url + "/sandbox-bank/") as bank:
            BankDriver(bank).revoke_in_security_center("bank_oauth", username, SANDBOX_CLIENT_NAME)

        client.v1.financial_connections.accounts.refresh(
            account.id, params={"features": ["balance"]}
        )
        OutboxDispatcher(runtime, HANDLERS).drain()

        refreshed = client.v1.financial_connections.accounts.retrieve(account.id)
        assert refreshed.status == "inactive"
        assert wire(refreshed).status_details.inactive.cause == "access_denied"
        assert wire(refreshed).status_details.inactive.action == "relink_required"
        [delivery] = receiver.deliveries
        event = stripe.Webhook.construct_event(
            delivery.body, delivery.headers["stripe-signature"], endpoint.secret
        )
        assert (event.type, event.data.object.id) == (
            "financial_connections.account.deactivated",
            account.id,
        )


def test_require_payment_method_support_all_offers_only_payment_capable_accounts(
    client: stripe.StripeClient, http: httpx.Client
) -> None:
    created = link_session(client, filters={"require_payment_method_support": "all"})
    pages = HostedPages(http, created.url)
    pages.open()
    pages.follow(pages.pick_bank("fcinst_test_non_oauth"))
    offered = text_of(pages.sign_in("someone", "pw"))
    assert "Checking" in offered and "Savings" in offered
    assert "Credit Card" not in offered


def test_require_payment_method_support_at_least_one_refuses_a_choice_without_one(
    client: stripe.StripeClient, http: httpx.Client
) -> None:
    created = link_session(client, filters={"require_payment_method_support": "at_least_one"})
    pages = HostedPages(http, created.url)
    pages.open()
    pages.follow(pages.pick_bank("fcinst_test_non_oauth"))
    pages.sign_in("someone", "pw")
    ids = bank_account_ids("test_non_oauth", "someone")
    refused = pages.choose_accounts(ids["Credit Card"])
    assert refused.status_code == 400
    assert "Choose at least one account that can be used for payments." in text_of(refused)
