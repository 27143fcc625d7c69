"""The holder's relink in French, Spanish and Dutch (German has its story in
test_relink_story), in real Chromium: the email arrives at a real SMTP server in the
holder's language and says when the account was first connected; the hosted pages, the
bank's prompts that Relink repeats and the sandbox bank's own pages (sign-in, code,
accounts, consent) all speak that language; and every page passes axe (no serious or
critical violation)."""

from __future__ import annotations

import re

import pytest
import stripe
from playwright.sync_api import Page

from relink.outbox.dispatcher import OutboxDispatcher
from relink.platforms.service import NewPlatform
from tests.browser.dashboard_fixtures import serious_violations
from tests.browser.pages.hosted import HostedRelinkPage, SandboxBankAuthorizePage
from tests.email.smtp_server import SmtpServer
from tests.hosted.factories import broken_account, relink_session, retrieve_session

pytestmark = pytest.mark.browser

# What each language's pages say at each step (a few words each, as a holder reads them).
WORDS = {
    "fr": {
        "email": "Vous avez connecté votre compte ••••{last4} chez Bank (Non-OAuth) à Acme Lending",
        "bank prompt": "Saisissez le code à usage unique que nous avons envoyé sur votre téléphone.",
        "success": "Votre compte est reconnecté",
        "bank sign-in": "Se connecter à Bank (OAuth)",
        "bank code": "Confirmez votre identité",
        "bank consent": "Pour 1 compte :",
    },
    "es": {
        "email": "conectó su cuenta ••••{last4} de Bank (Non-OAuth) a Acme Lending",
        "bank prompt": "Introduzca el código de un solo uso que le hemos enviado al teléfono.",
        "success": "Su cuenta vuelve a estar conectada",
        "bank sign-in": "Iniciar sesión en Bank (OAuth)",
        "bank code": "Confirme su identidad",
        "bank consent": "Para 1 cuenta:",
    },
    "nl": {
        "email": "U hebt uw rekening ••••{last4} bij Bank (Non-OAuth) op",
        "bank prompt": "Voer de eenmalige code in die we naar uw telefoon hebben gestuurd.",
        "success": "Uw rekening is opnieuw gekoppeld",
        "bank sign-in": "Inloggen bij Bank (OAuth)",
        "bank code": "Bevestig dat u het bent",
        "bank consent": "Voor 1 rekening:",
    },
}


def _checked(page: Page, name: str, problems: dict[str, list[str]], locale: str) -> None:
    assert page.locator("html").get_attribute("lang") == locale, name
    if found := serious_violations(page):
        problems[name] = found


@pytest.mark.parametrize("locale", sorted(WORDS))
def test_an_email_relink_with_a_one_time_code_in_the_holders_language(
    holder_page: Page,
    platform: NewPlatform,
    client: stripe.StripeClient,
    smtp: SmtpServer,
    smtp_worker: OutboxDispatcher,
    locale: str,
) -> None:
    words = WORDS[locale]
    customer, account = broken_account(client, platform.owner.email, preferred_locales=[locale])
    session = relink_session(client, account, delivery_method="email")
    smtp_worker.drain()
    [email] = smtp.handler.to(platform.owner.email)
    text = email.message.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    assert words["email"].format(last4=account.last4) in " ".join(text.split())
    link = re.search(r"https?://\S+/relink/[A-Za-z0-9_-]+", text)
    assert link is not None

    problems: dict[str, list[str]] = {}
    hosted = HostedRelinkPage(holder_page).open(link.group(0))
    _checked(holder_page, "landing", problems, locale)
    hosted.submit()
    _checked(holder_page, "sign-in", problems, locale)
    hosted.sign_in(customer.id.lower(), "secret-mfa")
    assert words["bank prompt"] in hosted.text  # the bank's own prompt, in the language
    _checked(holder_page, "challenge", problems, locale)
    hosted.answer("123456")
    assert hosted.heading == words["success"]
    _checked(holder_page, "success", problems, locale)
    assert problems == {}
    assert retrieve_session(client, session.id).status == "succeeded"


@pytest.mark.parametrize("locale", sorted(WORDS))
def test_the_sandbox_banks_pages_follow_the_holders_language(
    holder_page: Page, platform: NewPlatform, client: stripe.StripeClient, locale: str
) -> None:
    words = WORDS[locale]
    _, account = broken_account(
        client, platform.owner.email, institution="bank_oauth", preferred_locales=[locale]
    )
    session = relink_session(client, account)
    problems: dict[str, list[str]] = {}
    hosted = HostedRelinkPage(holder_page).open(session.url)
    hosted.submit()  # to the bank
    assert hosted.heading == words["bank sign-in"]
    _checked(holder_page, "bank sign-in", problems, locale)
    bank = SandboxBankAuthorizePage(holder_page)
    bank.sign_in("Ada Lovelace", "pw-mfa")
    assert hosted.heading == words["bank code"]
    _checked(holder_page, "bank code", problems, locale)
    bank.answer("123456")
    _checked(holder_page, "bank accounts", problems, locale)
    bank.share_only(f"Checking ••••{account.last4}")
    holder_page.wait_for_load_state()
    assert words["bank consent"] in holder_page.locator("main").inner_text()
    _checked(holder_page, "bank consent", problems, locale)
    bank.allow()
    assert hosted.heading == words["success"]
    assert problems == {}
    assert retrieve_session(client, session.id).status == "succeeded"
