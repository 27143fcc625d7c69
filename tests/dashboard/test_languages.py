"""What the dashboard builds in Python is worded in the user's language: refusals with
their numbers, the skip reasons, the policy in words, the report's axes and figures. A
German user (the preference set) reads German; an English user reads English; the API
keeps its English messages."""

from __future__ import annotations

import re
from html import unescape

import httpx
import pytest
import stripe

from relink.platforms.service import NewPlatform
from relink.runtime import Runtime
from tests.conftest import RunningServer
from tests.dashboard.factories import (
    broken_account,
    csrf_of,
    dashboard_client,
    emailed_link,
    page_csrf,
)
from tests.email.smtp_server import SmtpServer
from tests.factories import create_customer, create_test_account, wire
from tests.hosted.factories import relink_session
from tests.sessions.report_book import BOOK, FIRST_DAY, LAST_DAY, seed

POLICY = "/settings/automatic-relink"


def _text(html: str) -> str:
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())


def _speak(client: httpx.Client, locale: str) -> None:
    """The user's language preference, saved as the account page saves it."""
    response = client.post(
        "/account/preferences",
        data={"csrf_token": page_csrf(client, "/account"), "time_zone": "UTC", "locale": locale},
    )
    assert response.status_code == 303


@pytest.fixture
def german(owner: httpx.Client) -> httpx.Client:
    _speak(owner, "de")
    return owner


def _policy_form(client: httpx.Client, **changes: str) -> httpx.Response:
    values = {
        "enabled": "on",
        "delay_hours": "4",
        "delay_minutes": "0",
        "reminder_days": "3, 7",
        "expiry_reminder_days": "14, 7, 1",
        "max_emails_per_account": "6",
        **changes,
    }
    return client.post(POLICY, data={"csrf_token": page_csrf(client, POLICY), **values})


# -- automatic relink ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "german_words", "english_words"),
    [
        (
            {"delay_hours": "720", "delay_minutes": "1"},
            "Die Wartezeit darf höchstens 720 Stunden betragen.",
            "The delay can be at most 720 hours.",
        ),
        (
            {"reminder_days": "3, 31"},
            "Jeder Tag nach der ersten E-Mail muss zwischen 1 und 30 liegen.",
            "Each of the days after the first email must be from 1 to 30.",
        ),
        (
            {"reminder_days": "1,2,3,4,5,6"},
            "Geben Sie höchstens 5 Tage nach der ersten E-Mail an.",
            "List at most 5 days after the first email.",
        ),
        (
            {"expiry_reminder_days": "7, 7"},
            "Geben Sie jeden Tag vor einem Ablauf nur einmal an.",
            "List each of the days before an expiry once.",
        ),
        (
            {"max_emails_per_account": "0"},
            "Geben Sie eine Anzahl von E-Mails zwischen 1 und 20 ein.",
            "Enter a number of emails between 1 and 20.",
        ),
        (
            {"delay_minutes": "60"},
            "Geben Sie die Minuten als Zahl von 0 bis 59 ein.",
            "Enter the minutes as a number from 0 to 59.",
        ),
        (
            {"enabled": "maybe"},
            "Wählen Sie, ob die automatische Neuverknüpfung ein- oder ausgeschaltet ist.",
            "Choose whether automatic relink is on or off.",
        ),
    ],
    ids=["delay", "range", "too-many", "repeated", "cap", "minutes", "enabled"],
)
def test_a_refused_policy_is_worded_in_the_users_language(
    owner: httpx.Client, changes: dict[str, str], german_words: str, english_words: str
) -> None:
    english = _policy_form(owner, **changes)
    _speak(owner, "de")
    german = _policy_form(owner, **changes)

    assert english.status_code == german.status_code == 400
    assert english_words in unescape(english.text)
    assert german_words in unescape(german.text)
    assert english_words not in unescape(german.text)
    assert "Es gibt ein Problem" in german.text


def test_the_policy_in_words_follows_the_users_language(owner: httpx.Client) -> None:
    english = _text(owner.get(POLICY).text)
    _speak(owner, "de")
    german = _text(owner.get(POLICY).text)

    assert "Requests go out 4 hours after an account breaks." in english
    assert "Automatische Neuverknüpfung im Testmodus" in german
    for sentence in (
        "Die automatische Neuverknüpfung ist ausgeschaltet: Kontoinhaber werden nur angefragt,"
        " wenn jemand eine Neuverknüpfung anfordert.",
        "Anfragen werden 4 Stunden nach dem Ausfall eines Kontos versendet.",
        "Erinnerungen 3 und 7 Tage nach der ersten E-Mail, solange die Anfrage offen ist.",
        "Erinnerungen 14, 7 und 1 Tage vor Ablauf einer TAN oder Einwilligung",
        "Höchstens 6 E-Mails pro Konto: die Anfrage und ihre Erinnerungen zusammen.",
    ):
        assert sentence in german
    assert "Requests go out" not in german


def test_a_single_reminder_and_a_mixed_delay_are_worded_in_german(german: httpx.Client) -> None:
    saved = _policy_form(
        german,
        delay_hours="1",
        delay_minutes="30",
        reminder_days="1",
        expiry_reminder_days="",
        max_emails_per_account="1",
    )
    assert saved.status_code == 303

    text = _text(german.get(POLICY).text)

    assert "Anfragen werden 1 Stunde 30 Minuten nach dem Ausfall eines Kontos versendet." in text
    assert "Eine Erinnerung 1 Tag nach der ersten E-Mail" in text
    assert "Keine Erinnerungen vor Ablauf einer TAN oder Einwilligung." in text
    assert "Höchstens 1 E-Mail pro Konto" in text


# -- passwords and the team ----------------------------------------------------------------


def _change_password(client: httpx.Client, current: str, new: str) -> httpx.Response:
    return client.post(
        "/account/password",
        data={
            "csrf_token": page_csrf(client, "/account"),
            "current_password": current,
            "new_password": new,
        },
    )


@pytest.mark.parametrize(
    ("new", "german_words", "english_words"),
    [
        ("too short", "Verwenden Sie mindestens 12 Zeichen.", "Use at least 12 characters."),
        ("x" * 129, "Verwenden Sie höchstens 128 Zeichen.", "Use at most 128 characters."),
        (
            "abcdefghijklmnop",
            "Dieses Passwort ist zu leicht zu erraten",
            "This password is too easy to guess",
        ),
    ],
    ids=["short", "long", "predictable"],
)
def test_a_refused_new_password_is_worded_in_the_users_language(
    owner: httpx.Client, new: str, german_words: str, english_words: str
) -> None:
    english = _change_password(owner, "whatever it is", new)
    _speak(owner, "de")
    german = _change_password(owner, "whatever it is", new)

    assert english.status_code == german.status_code == 400
    assert english_words in english.text
    assert german_words in german.text
    assert english_words not in german.text


def test_too_many_wrong_current_passwords_are_worded_in_german(german: httpx.Client) -> None:
    answers = [
        _change_password(german, "not the password", "a long enough new passphrase")
        for _ in range(6)
    ]

    assert answers[-1].status_code == 429
    assert "Zu viele fehlgeschlagene Anmeldeversuche. Bitte warten Sie 15 Minuten" in (
        answers[-1].text
    )


def test_a_refused_reset_password_follows_the_browsers_language(
    server: RunningServer,
    platform: NewPlatform,
    smtp: SmtpServer,
    smtp_runtime: Runtime,
) -> None:
    with dashboard_client(server) as browser:
        form = browser.get("/forgot-password")
        browser.post(
            "/forgot-password",
            data={"email": platform.owner.email, "csrf_token": csrf_of(form.text)},
        )
    link = emailed_link(smtp, smtp_runtime, platform.owner.email, "/reset-password/")
    for language, words in (("de", "Verwenden Sie mindestens 12 Zeichen."), ("en", "Use at least")):
        with dashboard_client(server) as browser:
            browser.headers["accept-language"] = language
            page = browser.get(link)
            refused = browser.post(
                link, data={"csrf_token": csrf_of(page.text), "password": "short"}
            )
        assert refused.status_code == 400
        assert words in refused.text


def test_demoting_the_last_owner_is_refused_in_german(
    platform: NewPlatform, german: httpx.Client
) -> None:
    response = german.post(
        f"/settings/team/{platform.owner.id}/role",
        data={"csrf_token": page_csrf(german, "/settings/team"), "role": "admin"},
    )

    assert response.status_code == 400
    assert "Die Plattform braucht mindestens einen Inhaber" in response.text


# -- relink requests -----------------------------------------------------------------------


def test_the_confirm_page_says_why_accounts_are_skipped_in_the_users_language(
    client: stripe.StripeClient, platform: NewPlatform, owner: httpx.Client
) -> None:
    broken = broken_account(client, platform.owner.email)
    working = create_test_account(
        client, customer=create_customer(client, email=platform.owner.email).id
    )
    query = f"/accounts/request-relink?account={broken.id}&account={working.id}"
    skipped = f"/accounts/request-relink/skipped?account={broken.id}&account={working.id}"
    english = owner.get(query).text
    english_skipped = owner.get(skipped + "&reason=not_broken").text
    _speak(owner, "de")
    german = owner.get(query).text
    german_skipped = owner.get(skipped + "&reason=not_broken").text

    working_en = "The account's connection is working and nothing is about to expire."
    working_de = "Die Verbindung des Kontos funktioniert, und nichts läuft demnächst ab."
    assert working_en in unescape(english) and working_en in unescape(english_skipped)
    assert working_de in german and working_de in german_skipped
    assert working_en not in unescape(german)


def test_a_refused_request_on_the_account_page_is_worded_in_german_and_the_api_stays_english(
    client: stripe.StripeClient, platform: NewPlatform, german: httpx.Client
) -> None:
    working = create_test_account(
        client, customer=create_customer(client, email=platform.owner.email).id
    )

    response = german.post(
        f"/accounts/{working.id}/request-relink",
        data={"csrf_token": page_csrf(german, f"/accounts/{working.id}")},
    )

    assert response.status_code == 400
    assert (
        "Für dieses Konto kann derzeit keine Anfrage zur Neuverknüpfung erstellt werden: "
        "Die Verbindung des Kontos funktioniert, und nichts läuft demnächst ab."
    ) in _text(response.text)
    with pytest.raises(stripe.InvalidRequestError) as refused:
        relink_session(client, wire(working), delivery_method="email")
    assert "The account's connection is working" in str(refused.value.user_message)


# -- pages and their codes -----------------------------------------------------------------


def test_the_holder_lists_and_a_refused_filter_are_worded_in_german(german: httpx.Client) -> None:
    customers = german.get("/customers").text
    refused = german.get("/accounts?sort=nonsense")

    assert "<h1>Kunden</h1>" in customers
    assert refused.status_code == 400
    assert "Unbekannter Filter" in refused.text
    assert "So lässt sich die Liste nicht sortieren." in refused.text
    assert "Unknown sort" not in refused.text  # the API's message, naming codes


@pytest.mark.parametrize(
    ("url", "german_words"),
    [
        ("ftp://example.com/hook", "Geben Sie eine vollständige Webadresse ein"),
        ("http://localhost/hook", "localhost ist ein Name für diesen Rechner selbst"),
        ("https://ada:secret@example.com/hook", "Lassen Sie Benutzername und Passwort"),
    ],
    ids=["not-http", "loopback", "credentials"],
)
def test_a_refused_webhook_address_is_worded_in_german(
    german: httpx.Client, url: str, german_words: str
) -> None:
    response = german.post(
        "/developers/webhooks",
        data={
            "csrf_token": page_csrf(german, "/developers/webhooks"),
            "url": url,
            "events": "*",
        },
    )

    assert response.status_code == 400
    assert german_words in response.text
    assert "Invalid URL" not in response.text  # the API's English message


def test_a_refused_webhook_address_stays_english_for_an_english_user(owner: httpx.Client) -> None:
    response = owner.post(
        "/developers/webhooks",
        data={
            "csrf_token": page_csrf(owner, "/developers/webhooks"),
            "url": "http://localhost/hook",
            "events": "*",
        },
    )

    assert response.status_code == 400
    assert "localhost is a name for this machine itself" in response.text


# -- the outreach report -------------------------------------------------------------------


@pytest.fixture
def book(runtime: Runtime, platform: NewPlatform) -> str:
    seed(runtime, platform.platform.id, False, BOOK)
    return f"/reports/outreach?since={FIRST_DAY}&until={LAST_DAY}"


def _ticks(html: str) -> list[str]:
    """The funnel chart's x axis labels."""
    chart = re.search(r'<svg class="chart" id="chart-funnel".*?</svg>', html, re.S)
    assert chart
    return re.findall(
        r'<text x="[\d.]+" y="[\d.]+" text-anchor="(?:start|middle|end)" '
        r'font-size="12" fill="#1d2330">([^<]+)</text>',
        chart.group(0),
    )


def test_the_reports_axis_dates_are_written_by_babel_in_the_users_language(
    owner: httpx.Client, book: str
) -> None:
    english = owner.get(book).text
    _speak(owner, "de")
    german = owner.get(book).text

    first = FIRST_DAY
    assert f"{first:%b} {first.day}, {first.year}" in _ticks(english)
    assert f"{first:%d.%m.%Y}" in _ticks(german)
    assert first.isoformat() not in _ticks(english) + _ticks(german)


def test_the_report_is_worded_in_german(german: httpx.Client, book: str) -> None:
    html = german.get(book).text
    text = _text(html)

    assert '<title id="chart-funnel-title">Trichter im Zeitverlauf</title>' in html
    assert '<title id="chart-reason-title">Reparaturquote nach Grund</title>' in html
    assert "Anfragen, die vom " in html  # the chart's description
    assert "Angesehen" in text and "Von einer Maschine abgerufen" in text  # the steps
    assert "Einwilligung abgelaufen 3 3 100 % 3 Std. 0 Min." in text  # by reason
    assert "Reparaturquote 60 %" in text
    assert "(6 E-Mails, 3 reparierte Konten)" in text  # each count in its plural form
    assert "Consent expired" not in text and "Viewed" not in text


def test_a_refused_report_period_is_worded_in_german(german: httpx.Client) -> None:
    response = german.get("/reports/outreach?since=2026-03-01&until=2026-02-01")

    assert response.status_code == 400
    assert "Das Ende des Zeitraums liegt vor seinem Beginn." in response.text


def test_the_requests_funnel_is_worded_in_german(german: httpx.Client) -> None:
    text = _text(german.get("/relink-requests").text)

    assert "Per E-Mail angefragt" in text and "Erfolgreich" in text
    assert "Emailed" not in text


def test_a_webhook_endpoints_status_is_a_word_with_its_code_beside(
    client: stripe.StripeClient, owner: httpx.Client
) -> None:
    endpoint = client.v1.webhook_endpoints.create(
        params={"url": "https://example.com/hook", "enabled_events": ["*"]}
    )
    english = owner.get(f"/developers/webhooks/{endpoint.id}").text
    _speak(owner, "de")
    german = owner.get(f"/developers/webhooks/{endpoint.id}").text
    listed = owner.get("/developers/webhooks").text

    assert 'id="endpoint-status" data-status="enabled">Enabled</span>' in english
    assert 'id="endpoint-status" data-status="enabled">Aktiviert</span>' in german
    assert 'data-status="enabled">Aktiviert</span>' in listed
