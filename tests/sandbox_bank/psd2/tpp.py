"""What a TPP and its holder do at the sandbox bank's PSD2 ASPSPs, written once for every
test that needs it: the consent request's body, and the holder on the SCA pages."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import httpx

from relink.sandbox_bank.testing import PageForm, parse_forms


def consent_body(
    ibans: list[str] | None = None, *, valid_until: str = "9999-12-31", frequency: int = 4
) -> dict[str, Any]:
    """A recurring AIS consent: bank-offered without ``ibans``, else for those accounts."""
    references = [{"iban": iban} for iban in ibans or []]
    return {
        "access": {"accounts": references, "balances": references, "transactions": references},
        "recurringIndicator": True,
        "validUntil": valid_until,
        "frequencyPerDay": frequency,
        "combinedServiceIndicator": False,
    }


def authorise_in_pages(
    browser: httpx.Client,
    url: str,
    username: str,
    *,
    cancel: bool = False,
    tpp_host: str = "tpp.test",
) -> str:
    """The holder's browser (no JavaScript) from ``url`` through the SCA pages: signs in,
    chooses SMS, enters the code and shares every account offered, or cancels at the
    first step; the URL at ``tpp_host`` the bank sends the holder back to."""
    response = browser.get(url)
    for _ in range(12):
        if response.status_code in (302, 303):
            location = str(response.url.join(response.headers["location"]))
            if urlsplit(location).netloc == tpp_host:
                return location
            response = browser.get(location)
            continue
        form = next(f for f in parse_forms(response.text) if f.step)
        response = browser.post(
            str(response.url.join(form.action)), data=_answer(form, username, cancel=cancel)
        )
        assert response.status_code == 303, response.text[:800]  # every step redirects
    raise AssertionError(f"the bank's pages never sent the holder back: {response.text[:800]}")


def _answer(form: PageForm, username: str, *, cancel: bool) -> dict[str, str | list[str]]:
    data: dict[str, str | list[str]] = dict(form.fields)
    if cancel:
        data["action"] = "cancel"
    elif form.step == "accounts":
        data.update(action="accounts", account=[value for value, _ in form.checkboxes["account"]])
    else:
        answers = {
            "login": {"username": username, "password": "pw", "action": "sign_in"},
            "method": {"method": "sms_otp", "action": "choose"},
            "code": {"code": "123456", "action": "code"},
        }
        data.update(answers[form.step or ""])
    return data
