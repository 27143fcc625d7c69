"""The sandbox's rule for relinks, as the hosted sign-in page and the bank's page state it:
any username repairs the connection being relinked; a username starting with ``other``
plays the holder who signed in to a different login (docs/sandbox-bank.md)."""

from __future__ import annotations

import httpx
import pytest
import stripe
from sqlalchemy import select

from relink.models import Authorization
from relink.platforms.service import NewPlatform
from relink.runtime import Runtime
from tests.factories import deactivate
from tests.hosted.factories import relink_case, relink_session, retrieve_session
from tests.hosted.pages import HostedPages, text_of


def _relinked_through_oauth(http: httpx.Client, url: str, username: str) -> str:
    pages = HostedPages(http, url)
    pages.open()
    return text_of(pages.through_bank(pages.post("continue"), username=username))


def _relinked_with_credentials(http: httpx.Client, url: str, username: str) -> str:
    pages = HostedPages(http, url)
    pages.open()
    assert "Sign in to Bank (Non-OAuth)" in text_of(pages.press_continue())
    return text_of(pages.sign_in(username, "any-password"))


def _bank_user(runtime: Runtime, authorization_id: str) -> str | None:
    with runtime.database.read_only() as db:
        return db.scalar(
            select(Authorization.bank_user).where(Authorization.id == authorization_id)
        )


def test_the_sign_in_pages_say_any_username_works_and_how_to_play_another_login(
    client: stripe.StripeClient, platform: NewPlatform, http: httpx.Client
) -> None:
    credentials = relink_case(client, platform.owner.email)
    pages = HostedPages(http, credentials.url)
    pages.open()
    hosted = text_of(pages.press_continue())
    oauth = relink_case(client, platform.owner.email, institution="bank_oauth")
    pages = HostedPages(http, oauth.url)
    pages.open()
    bank = text_of(http.get(pages.post("continue").headers["location"], follow_redirects=True))
    assert "any username works, and a relink signs in to the login being repaired" in hosted
    assert 'a username starting with "other"' in hosted
    assert "whatever username you type signs in to it, except one starting with other" in bank


@pytest.mark.parametrize("username", ["Ada", "someone-else", "grace@example.com"])
def test_any_username_at_an_oauth_bank_repairs_the_account(
    client: stripe.StripeClient, platform: NewPlatform, http: httpx.Client, username: str
) -> None:
    case = relink_case(client, platform.owner.email, institution="bank_oauth")
    assert "Your account is reconnected" in _relinked_through_oauth(http, case.url, username)
    assert retrieve_session(client, case.session.id).status == "succeeded"
    assert client.v1.financial_connections.accounts.retrieve(case.account.id).status == "active"


def test_any_username_at_a_credentials_bank_repairs_the_account(
    client: stripe.StripeClient, platform: NewPlatform, http: httpx.Client
) -> None:
    case = relink_case(client, platform.owner.email)
    assert "Your account is reconnected" in _relinked_with_credentials(http, case.url, "Ada")
    assert retrieve_session(client, case.session.id).status == "succeeded"
    assert client.v1.financial_connections.accounts.retrieve(case.account.id).status == "active"


def test_a_username_starting_with_other_at_an_oauth_bank_is_a_different_login(
    client: stripe.StripeClient, platform: NewPlatform, http: httpx.Client
) -> None:
    case = relink_case(client, platform.owner.email, institution="bank_oauth")
    page = _relinked_through_oauth(http, case.url, "other-login")
    assert "The account was not shared" in page
    assert retrieve_session(client, case.session.id).status == "pending"
    assert client.v1.financial_connections.accounts.retrieve(case.account.id).status == "inactive"


def test_a_username_starting_with_other_at_a_credentials_bank_is_a_different_login(
    client: stripe.StripeClient, platform: NewPlatform, http: httpx.Client
) -> None:
    case = relink_case(client, platform.owner.email)
    page = _relinked_with_credentials(http, case.url, "Other Ada")
    # Nothing is chosen at a credentials bank: the page speaks of the login, not a choice.
    assert "This login does not hold the account" in page
    assert "sign in with the username of the login that holds" in page
    assert "choose" not in page
    assert retrieve_session(client, case.session.id).status == "pending"
    assert client.v1.financial_connections.accounts.retrieve(case.account.id).status == "inactive"


@pytest.mark.parametrize("institution", ["bank_oauth", "bank_non_oauth"])
def test_a_relink_keeps_the_login_the_bank_signed_in_to_not_the_typed_username(
    client: stripe.StripeClient,
    platform: NewPlatform,
    http: httpx.Client,
    runtime: Runtime,
    institution: str,
) -> None:
    case = relink_case(client, platform.owner.email, institution=institution)
    relink = _relinked_through_oauth if institution == "bank_oauth" else _relinked_with_credentials
    assert "Your account is reconnected" in relink(http, case.url, "first-try")
    assert _bank_user(runtime, case.account["authorization"]) == case.bank_username

    # Broken again: the next relink, with yet another username, repairs it too.
    deactivate(client, case.account.id, "access_expired")
    again = relink_session(client, case.account)
    with httpx.Client(timeout=15.0, follow_redirects=False) as browser:
        assert "Your account is reconnected" in relink(browser, str(again["url"]), "second")
    assert client.v1.financial_connections.accounts.retrieve(case.account.id).status == "active"
