"""The consent receipt (docs/consent.md): after a successful hosted link or relink the
holder gets, over real SMTP and in their language, what they shared, with whom, until
when, and the link to the page where they can revoke it."""

from __future__ import annotations

import httpx
import stripe

from relink.platforms.service import NewPlatform
from relink.runtime import Runtime
from tests.email.smtp_server import SmtpServer
from tests.factories import body_of, create_customer, drain_outbox
from tests.hosted.connect_factories import CONSENT_LINK, linked_at_oauth_bank
from tests.hosted.factories import relink_case
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
