"""The consent receipt (docs/consent.md): after a successful hosted link or relink the
holder gets, over real SMTP and in their language, what they shared, with whom, until
when, and the link to the page where they can revoke it; the success page they land on
shows the same receipt, says it was emailed, and links to that page."""

from __future__ import annotations

import datetime as dt
import re

import httpx
import stripe
from babel.dates import format_date
from sqlalchemy import func, select

from relink.authorizations.consent_links import VALID_FOR
from relink.email.consent_receipt import CONSENT_RECEIPT_EMAIL
from relink.kit.clock import FrozenClock
from relink.models import Authorization, OutboxMessage
from relink.platforms.service import NewPlatform
from relink.runtime import Runtime
from tests.email.smtp_server import SmtpServer
from tests.factories import body_of, create_customer, drain_outbox
from tests.hosted.connect_factories import (
    CONSENT_LINK,
    link_at_oauth_bank,
    linked_at_oauth_bank,
    stored_authorization,
)
from tests.hosted.factories import relink_case, retrieve_session
from tests.hosted.pages import HostedPages, text_of


def test_a_hosted_link_sends_a_receipt_with_the_link_to_revoke(
    client: stripe.StripeClient,
    platform: NewPlatform,
    http: httpx.Client,
    smtp: SmtpServer,
    smtp_runtime: Runtime,
) -> None:
    owner = platform.owner.email
    customer = create_customer(client, name="Ada Lovelace", email=owner)
    session, _ = linked_at_oauth_bank(client, http, "Checking", customer=customer)
    [account] = session.accounts.data
    drain_outbox(smtp_runtime)

    [receipt] = smtp.handler.to(owner)
    message = receipt.message
    assert message["Subject"] == (
        "Your consent receipt: Bank (OAuth) data shared with Acme Lending"
    )
    text = body_of(message)
    assert "you agreed to share data from Bank (OAuth) with Acme Lending" in text
    assert f"Checking ••••{account.last4}" in text
    assert "Account balances" in text and "Account and routing numbers, for payments" in text
    [link] = set(CONSENT_LINK.findall(text))
    assert link in body_of(message, "html")
    page = http.get(link)
    assert page.status_code == 200
    assert "Your connections with Acme Lending" in text_of(page)
    assert f"••••{account.last4}" in text_of(page)


def test_a_hosted_relink_sends_a_renewal_receipt_in_the_holders_language(
    client: stripe.StripeClient,
    platform: NewPlatform,
    http: httpx.Client,
    smtp: SmtpServer,
    smtp_runtime: Runtime,
) -> None:
    owner = platform.owner.email
    case = relink_case(client, owner, preferred_locales=["de"])
    pages = HostedPages(http, case.url)
    pages.open()
    pages.press_continue()
    pages.sign_in(case.bank_username, "secret-mfa")
    pages.answer("123456")
    drain_outbox(smtp_runtime)

    [receipt] = smtp.handler.to(owner)
    assert receipt.message["Subject"] == (
        "Ihre Einwilligungsbestätigung: Daten von Bank (Non-OAuth) für Acme Lending freigegeben"
    )
    text = body_of(receipt.message)
    assert "haben Sie Ihre Einwilligung erneuert" in text
    assert CONSENT_LINK.search(text)


def test_a_holder_without_a_confirmed_address_gets_no_receipt_in_test_mode(
    client: stripe.StripeClient,
    http: httpx.Client,
    smtp: SmtpServer,
    smtp_runtime: Runtime,
) -> None:
    customer = create_customer(client, name="Ada Lovelace", email="stranger@example.com")
    linked_at_oauth_bank(client, http, "Checking", customer=customer)
    drain_outbox(smtp_runtime)
    assert smtp.handler.to("stranger@example.com") == []


# -- the success page ------------------------------------------------------------------------

# The success page's link to the holder's connections (an href, as the page writes it).
PAGE_CONSENT_LINK = re.compile(r'href="(https?://[^"]+/consent/[A-Za-z0-9_.-]+)"')


def _long(value: dt.datetime, locale: str = "en") -> str:
    return format_date(value, format="long", locale=locale)


def _consent_link(page: httpx.Response) -> str:
    [link] = PAGE_CONSENT_LINK.findall(page.text)
    return str(link)


def _receipts(runtime: Runtime, session_id: str) -> int:
    with runtime.database.read_only() as db:
        query = select(func.count()).where(
            OutboxMessage.kind == CONSENT_RECEIPT_EMAIL,
            OutboxMessage.dedupe_key == f"email:consent_receipt:{session_id}",
        )
        return db.scalar(query) or 0


def _valid_until(authorization: Authorization, locale: str = "en") -> str:
    expiry = authorization.expected_deactivation_at
    return _long(expiry, locale) if expiry else "Until you revoke it"


def test_the_success_page_after_a_link_shows_the_receipt_and_says_it_was_emailed(
    client: stripe.StripeClient,
    platform: NewPlatform,
    http: httpx.Client,
    smtp: SmtpServer,
    smtp_runtime: Runtime,
    frozen_clock: FrozenClock,
) -> None:
    customer = create_customer(client, name="Ada Lovelace", email=platform.owner.email)
    linked = link_at_oauth_bank(client, http, "Checking", "Savings", customer=customer)
    checking, savings = sorted(linked.session.accounts.data, key=lambda a: a.display_name)
    authorization = stored_authorization(smtp_runtime, checking.authorization)

    page = HostedPages(http, linked.url).open()

    assert page.status_code == 200
    text = text_of(page)
    assert "Your accounts are connected" in text
    assert "Your consent receipt" in text
    assert (
        f"On {_long(frozen_clock.at)} you agreed to share data from Bank (OAuth) with Acme Lending."
    ) in text
    assert f"Bank accounts Checking ••••{checking.last4}; Savings ••••{savings.last4}" in text
    assert "Shared Account balances; Account and routing numbers, for payments" in text
    assert f"Given on {_long(frozen_clock.at)}" in text
    assert f"Valid until {_valid_until(authorization)}" in text
    assert "A copy of this receipt is on its way to your email address." in text
    drain_outbox(smtp_runtime)
    sent = text_of(HostedPages(http, linked.url).open())
    assert "We have emailed you a copy of this receipt." in sent
    assert len(smtp.handler.to(platform.owner.email)) == 1


def test_the_success_pages_link_opens_the_connections_page_listing_the_connection(
    client: stripe.StripeClient, http: httpx.Client
) -> None:
    linked = link_at_oauth_bank(client, http, "Checking")
    [account] = linked.session.accounts.data
    page = HostedPages(http, linked.url).open()

    connections = http.get(_consent_link(page))

    assert connections.status_code == 200
    listed = text_of(connections)
    assert "Your connections with Acme Lending" in listed
    assert f"Bank (OAuth) ••••{account.last4}" in listed
    assert "Revoke" in listed


def test_reloading_the_success_page_submits_nothing_and_shows_the_same_receipt(
    client: stripe.StripeClient, http: httpx.Client, runtime: Runtime
) -> None:
    linked = link_at_oauth_bank(client, http, "Checking")
    pages = HostedPages(http, linked.url)

    first, again = pages.open(), pages.open()

    assert "<form" not in first.text.split("<main", 1)[-1]
    assert _consent_link(first) == _consent_link(again)
    assert text_of(first) == text_of(again)
    assert _receipts(runtime, linked.session.id) == 1
    assert retrieve_session(client, linked.session.id).status == "succeeded"


def test_the_success_page_says_nothing_was_emailed_to_a_holder_without_an_address(
    client: stripe.StripeClient, http: httpx.Client
) -> None:
    linked = link_at_oauth_bank(client, http, "Checking")

    text = text_of(HostedPages(http, linked.url).open())

    assert "Your consent receipt" in text
    assert "copy of this receipt" not in text
    assert "See or revoke your consent" in text


def test_the_success_page_after_a_relink_shows_the_renewed_consent(
    client: stripe.StripeClient,
    platform: NewPlatform,
    http: httpx.Client,
    frozen_clock: FrozenClock,
) -> None:
    case = relink_case(client, platform.owner.email)
    pages = HostedPages(http, case.url)
    pages.open()
    pages.press_continue()

    done = pages.sign_in(case.bank_username, "pw")

    text = text_of(done)
    assert "Your account is reconnected" in text
    assert (
        f"On {_long(frozen_clock.at)} you renewed your consent to share data from "
        "Bank (Non-OAuth) with Acme Lending."
    ) in text
    assert f"Bank accounts {case.account.display_name} ••••{case.account.last4}" in text
    assert f"Renewed on {_long(frozen_clock.at)}" in text
    assert "A copy of this receipt is on its way to your email address." in text
    connections = http.get(_consent_link(done))
    assert connections.status_code == 200
    assert f"Bank (Non-OAuth) ••••{case.account.last4}" in text_of(connections)


def test_the_success_page_after_a_relink_speaks_the_holders_language(
    client: stripe.StripeClient,
    platform: NewPlatform,
    http: httpx.Client,
    frozen_clock: FrozenClock,
) -> None:
    case = relink_case(client, platform.owner.email, preferred_locales=["de"])
    pages = HostedPages(http, case.url)
    pages.open()
    pages.press_continue()
    pages.sign_in(case.bank_username, "secret-mfa")

    text = text_of(pages.answer("123456"))

    assert "Ihre Einwilligungsbestätigung" in text
    assert (
        f"Am {_long(frozen_clock.at, 'de')} haben Sie Ihre Einwilligung erneuert, Daten "
        "von Bank (Non-OAuth) für Acme Lending freizugeben."
    ) in text
    assert f"Erneuert am {_long(frozen_clock.at, 'de')}" in text
    assert "Einwilligung ansehen oder widerrufen" in text


def test_the_success_pages_link_stops_opening_the_connections_when_the_emails_would(
    client: stripe.StripeClient, http: httpx.Client, frozen_clock: FrozenClock
) -> None:
    linked = link_at_oauth_bank(client, http, "Checking")
    fresh = _consent_link(HostedPages(http, linked.url).open())
    frozen_clock.advance(days=VALID_FOR.days, seconds=1)

    later = _consent_link(HostedPages(http, linked.url).open())

    assert later == fresh  # made as of the consent, not of the visit
    expired = http.get(later)
    assert expired.status_code == 410
    assert "Email me a new link" in text_of(expired)
