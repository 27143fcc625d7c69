"""The bank speaks the holder's language: its pages follow ``ui_locales`` (else the
browser's ``Accept-Language``), and its login API asks challenges in the body's
``locale``; an answer given in that language is understood."""

from __future__ import annotations

import re
from html import unescape

import httpx
import pytest

from relink.sandbox_bank import i18n
from relink.sandbox_bank.testing import BankDriver, new_pkce, parse_forms


def _sign_in_page(http: httpx.Client, driver: BankDriver, **params: str) -> httpx.Response:
    return http.get(driver.authorize_url("bank_oauth", new_pkce(), **params), follow_redirects=True)


def _text(page: httpx.Response) -> str:
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", page.text)).split())


def _step(http: httpx.Client, page: httpx.Response, **fields: str | list[str]) -> httpx.Response:
    [form] = parse_forms(page.text)
    answered = http.post(form.action, data={**form.fields, **fields})
    assert answered.status_code == 303
    return http.get(answered.headers["location"])


@pytest.mark.parametrize(
    ("locale", "heading", "username"),
    [
        ("de", "Bei Bank (OAuth) anmelden", "Benutzername"),
        ("fr", "Se connecter à Bank (OAuth)", "Identifiant"),
        ("es", "Iniciar sesión en Bank (OAuth)", "Usuario"),
        ("nl", "Inloggen bij Bank (OAuth)", "Gebruikersnaam"),
    ],
)
def test_the_sign_in_page_speaks_the_language_the_app_asks_for(
    http: httpx.Client, driver: BankDriver, locale: str, heading: str, username: str
) -> None:
    page = _sign_in_page(http, driver, ui_locales=f"{locale}-XX en")
    assert f'<html lang="{locale}">' in page.text
    assert page.headers["content-language"] == locale
    assert heading in _text(page)
    assert f'<label for="username">{username}</label>' in page.text


def test_without_ui_locales_the_pages_follow_the_browser(
    http: httpx.Client, driver: BankDriver
) -> None:
    page = http.get(
        driver.authorize_url("bank_oauth", new_pkce()),
        headers={"Accept-Language": "nl-BE,nl;q=0.9,en;q=0.5"},
        follow_redirects=True,
    )
    assert '<html lang="nl">' in page.text


def test_a_language_the_bank_does_not_speak_is_english(
    http: httpx.Client, driver: BankDriver
) -> None:
    page = _sign_in_page(http, driver, ui_locales="ja pt-BR")
    assert '<html lang="en">' in page.text
    assert "Sign in to Bank (OAuth)" in _text(page)


def test_the_flow_keeps_its_language_whatever_the_browser_says_later(
    http: httpx.Client, driver: BankDriver, username: str
) -> None:
    page = _sign_in_page(http, driver, ui_locales="de")
    reloaded = http.get(str(page.url), headers={"Accept-Language": "fr"})
    assert '<html lang="de">' in reloaded.text
    refused = _step(http, page, username=username, password="")
    assert "Geben Sie Ihren Benutzernamen und Ihr Passwort ein." in _text(refused)


def test_the_code_challenge_is_asked_in_the_flows_language(
    http: httpx.Client, driver: BankDriver, username: str
) -> None:
    page = _sign_in_page(http, driver, ui_locales="fr")
    challenge = _step(http, page, username=username, password="mfa")
    assert "Saisissez le code à usage unique que nous avons envoyé sur votre téléphone." in (
        _text(challenge)
    )
    assert "Sandbox : le code est 123456." in _text(challenge)
    wrong = _step(http, challenge, answer="000000")
    assert "Ce n'est pas correct. Réessayez." in _text(wrong)
    accounts = _step(http, wrong, answer="123456")
    assert [form.step for form in parse_forms(accounts.text)] == ["accounts"]


def test_an_option_chosen_in_the_holders_language_is_accepted(
    http: httpx.Client, driver: BankDriver, username: str
) -> None:
    page = _sign_in_page(http, driver, ui_locales="es")
    challenge = _step(http, page, username=username, password="options")
    assert "¿Dónde quiere recibir su código de verificación?" in _text(challenge)
    accounts = _step(http, challenge, answer="SMS al •••• 1234")
    assert [form.step for form in parse_forms(accounts.text)] == ["accounts"]


@pytest.mark.parametrize(
    ("chosen", "locale", "line"),
    [
        (1, "de", "Für 1 Konto:"),
        (3, "de", "Für 3 Konten:"),
        (1, "fr", "Pour 1 compte :"),
        (2, "fr", "Pour 2 comptes :"),
        (1, "nl", "Voor 1 rekening:"),
        (2, "es", "Para 2 cuentas:"),
        (2, "en", "For 2 accounts:"),
    ],
)
def test_the_consent_page_counts_the_accounts_in_the_languages_plural(
    http: httpx.Client, driver: BankDriver, username: str, chosen: int, locale: str, line: str
) -> None:
    page = _sign_in_page(http, driver, ui_locales=locale)
    accounts = _step(http, page, username=username, password="pw")
    [form] = parse_forms(accounts.text)
    ids = re.findall(r'name="account" value="([^"]+)"', accounts.text)
    consent = _step(http, accounts, account=ids[:chosen])
    assert line in _text(consent)
    assert form.step == "accounts"


def test_the_error_page_speaks_the_language_the_app_asks_for(
    http: httpx.Client, driver: BankDriver
) -> None:
    page = http.get(
        driver.authorize_url("bank_oauth", new_pkce(), client_id="nobody", ui_locales="de")
    )
    assert page.status_code == 400
    assert '<html lang="de">' in page.text
    assert "Diese App ist bei der Bank nicht registriert." in _text(page)


@pytest.mark.parametrize(
    ("locale", "prompt", "hint"),
    [
        ("en", "Enter the one-time code we sent to your phone.", "Sandbox: the code is 123456."),
        (
            "de",
            "Geben Sie den Einmalcode ein, den wir an Ihr Telefon gesendet haben.",
            "Sandbox: Der Code lautet 123456.",
        ),
        (
            "nl",
            "Voer de eenmalige code in die we naar uw telefoon hebben gestuurd.",
            "Sandbox: de code is 123456.",
        ),
    ],
)
def test_a_credential_login_asks_its_challenge_in_the_bodys_locale(
    http: httpx.Client, username: str, locale: str, prompt: str, hint: str
) -> None:
    body = http.post(
        "api/v1/logins",
        json={
            "institution": "bank_non_oauth",
            "username": username,
            "password": "mfa",
            "locale": locale,
        },
    ).json()
    assert (body["challenge"]["prompt"], body["challenge"]["hint"]) == (prompt, hint)


def test_a_further_challenge_is_asked_in_the_answers_locale(
    http: httpx.Client, username: str
) -> None:
    started = http.post(
        "api/v1/logins",
        json={"institution": "bank_non_oauth", "username": username, "password": "mfa"},
    ).json()
    asked = http.post(
        f"api/v1/logins/{started['login_id']}/answer",
        json={"answer": "security_question", "locale": "fr"},
    ).json()
    assert (
        asked["challenge"]["prompt"] == "Quel était le nom de votre premier animal de compagnie ?"
    )


def test_a_listed_option_is_answered_in_the_language_it_was_offered_in(
    http: httpx.Client, username: str
) -> None:
    started = http.post(
        "api/v1/logins",
        json={
            "institution": "bank_non_oauth",
            "username": username,
            "password": "options",
            "locale": "de",
        },
    ).json()
    assert started["challenge"]["options"][0] == "SMS an •••• 1234"
    answered = http.post(
        f"api/v1/logins/{started['login_id']}/answer",
        json={"answer": "SMS an •••• 1234", "locale": "de"},
    ).json()
    assert answered["status"] == "authenticated"


def test_the_sign_in_and_code_pages_focus_their_first_field_without_javascript(
    http: httpx.Client, driver: BankDriver, username: str
) -> None:
    def first_field(page: httpx.Response) -> str:
        return str(re.findall(r"<input(?![^>]*type=\"hidden\")[^>]*>", page.text)[0])

    page = _sign_in_page(http, driver)
    challenge = _step(http, page, username=username, password="mfa")
    assert 'id="username"' in first_field(page) and " autofocus" in first_field(page)
    assert 'id="answer"' in first_field(challenge) and " autofocus" in first_field(challenge)


def test_the_bank_chooses_its_language_from_ui_locales_then_accept_language() -> None:
    assert i18n.choose("fr-CA de") == "fr"
    assert i18n.choose("xx", accept_language="es;q=0.4, nl;q=0.8") == "nl"
    assert i18n.choose(None, accept_language="*;q=0.5") == "en"


def test_the_security_center_speaks_the_browsers_language(
    http: httpx.Client, driver: BankDriver, username: str
) -> None:
    driver.login("test_non_oauth", username, "pw")
    german = {"Accept-Language": "de-DE,de;q=0.9"}
    login = http.get("security-center", headers=german)
    assert '<html lang="de">' in login.text
    assert "Sehen und widerrufen Sie die Apps" in _text(login)
    [form] = parse_forms(login.text)
    opened = http.post(
        form.action,
        data={**form.fields, "institution": "test_non_oauth", "username": username},
        headers=german,
        follow_redirects=True,
    )
    assert "Apps mit Zugriff" in _text(opened)
    assert f"Angemeldet als {username}" in _text(opened)
    assert "3 Konten" in _text(opened)
    assert 'aria-label="Zugriff von' in opened.text


@pytest.mark.parametrize(
    ("accept_language", "locale", "lines"),
    [
        (
            "de-DE,de;q=0.9",
            "de",
            [
                "Eine Übungsbank zum Testen von Relink. Hier ist kein echtes Geld im Spiel.",
                "NextGenPSD2-Banken",
                "Anmeldung auf den eigenen Seiten der Bank (OAuth)",
                "XS2A-Schnittstelle unter",
                "Sicherheitscenter",
            ],
        ),
        (
            "fr-FR,fr;q=0.9,en;q=0.5",
            "fr",
            [
                "Une banque fictive pour tester Relink. Aucun argent réel n'est en jeu ici.",
                "Banques NextGenPSD2",
                "connexion par identifiant et mot de passe sur les pages de l'application",
                "interface XS2A à l'adresse",
                "Centre de sécurité",
            ],
        ),
        ("es", "es", ["Un banco ficticio para probar Relink.", "Entidades"]),
        ("nl-BE,nl;q=0.9", "nl", ["Een oefenbank om Relink mee te testen.", "Instellingen"]),
    ],
)
def test_the_front_page_follows_the_browsers_language(
    http: httpx.Client, accept_language: str, locale: str, lines: list[str]
) -> None:
    page = http.get("/", headers={"Accept-Language": accept_language})
    assert f'<html lang="{locale}">' in page.text
    assert page.headers["content-language"] == locale
    text = _text(page)
    for line in lines:
        assert line in text
    # The institutions keep their names and keys.
    assert "<li>Bank (OAuth) (<code>bank_oauth</code>, " in page.text


def test_the_front_page_speaks_the_language_asked_for_in_its_address(
    http: httpx.Client,
) -> None:
    page = http.get("/", params={"ui_locales": "de"}, headers={"Accept-Language": "fr"})
    assert '<html lang="de">' in page.text
    assert "Institute" in _text(page)


def test_the_front_page_in_english(http: httpx.Client) -> None:
    text = _text(http.get("/", headers={"Accept-Language": "ja"}))
    assert "A pretend bank for testing Relink. Nothing here is real money." in text
    assert "sign-in on the bank's own pages (OAuth)" in text
    assert "XS2A interface at http" in text
