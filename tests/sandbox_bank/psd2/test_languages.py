"""The PSD2 banks' SCA pages speak the holder's browser's language (a TPP's redirect
carries none the bank could read)."""

from __future__ import annotations

import re
from collections.abc import Callable
from html import unescape

import httpx
import pytest

from relink.sandbox_bank.testing import parse_forms
from tests.sandbox_bank.psd2.conftest import Psd2Client


def _text(page: httpx.Response) -> str:
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", page.text)).split())


def _press(browser: httpx.Client, page: httpx.Response, **data: str) -> httpx.Response:
    [form] = [f for f in parse_forms(page.text) if f.step]
    return browser.post(
        str(page.url.join(form.action)), data={**form.fields, **data}, follow_redirects=True
    )


@pytest.mark.parametrize(
    ("locale", "sign_in", "code", "consent"),
    [
        (
            "de",
            "Ein Drittanbieter möchte Ihre Kontoinformationen einsehen.",
            "Wir haben Ihnen einen Code gesendet per: SMS an •••• 1234.",
            "bis zum 30. Mai 2027 oder bis Sie den Zugriff im Sicherheitscenter widerrufen",
        ),
        (
            "fr",
            "Un prestataire tiers demande à consulter les informations de vos comptes.",
            "Nous vous avons envoyé un code par : SMS au •••• 1234.",
            "jusqu'au 30 mai 2027, ou jusqu'à ce que vous révoquiez l'accès",
        ),
        (
            "es",
            "Un proveedor externo solicita ver la información de sus cuentas.",
            "Le hemos enviado un código por: SMS al •••• 1234.",
            "hasta el 30 de mayo de 2027 o hasta que revoque el acceso",
        ),
        (
            "nl",
            "Een externe aanbieder vraagt om uw rekeninggegevens in te zien.",
            "We hebben u een code gestuurd via: Sms naar •••• 1234.",
            "tot 30 mei 2027, of totdat u de toegang intrekt",
        ),
    ],
)
def test_the_sca_pages_speak_the_browsers_language(
    psd2: Callable[[str], Psd2Client],
    username: str,
    locale: str,
    sign_in: str,
    code: str,
    consent: str,
) -> None:
    created = psd2("psd2").create_consent(valid_until="2027-05-30").json()
    with httpx.Client(timeout=10, headers={"Accept-Language": f"{locale},en;q=0.5"}) as browser:
        page = browser.get(created["_links"]["scaRedirect"]["href"], follow_redirects=True)
        assert f'<html lang="{locale}">' in page.text
        assert sign_in in _text(page)
        method = _press(browser, page, username=username, password="pw", action="sign_in")
        entered = _press(browser, method, method="sms_otp", action="choose")
        assert code in _text(entered)
        accounts = _press(browser, entered, code="123456", action="code")
        assert consent in _text(accounts)
