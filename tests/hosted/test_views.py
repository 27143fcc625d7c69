"""The hosted pages through HTTP: what they show, in which language, and how they are
protected (scanner-safe GETs, CSRF, escaping, headers, throttling)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from urllib.parse import urljoin

import httpx
import pytest
import stripe

from relink.app import create_app
from relink.config import Settings
from relink.hosted.links import THROTTLE_KEY, HostedThrottle
from relink.kit.ratelimit import SlidingWindowThrottle
from relink.models import Platform
from relink.platforms.service import NewPlatform
from relink.runtime import Runtime
from relink.sandbox_bank.testing import authorize_in_bank, free_port
from tests.conftest import RunningServer, start_server
from tests.factories import runtime_with, timeline_kinds
from tests.hosted.factories import (
    hosted_flow,
    relink_case,
    retrieve_session,
    set_support_contact,
    stored_session,
)
from tests.hosted.pages import HostedPages, text_of

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16


def test_landing_names_the_platform_bank_masked_account_and_reason(
    client: stripe.StripeClient, platform: NewPlatform, http: httpx.Client
) -> None:
    case = relink_case(client, platform.owner.email)
    page = text_of(HostedPages(http, case.url).open())
    assert "Acme Lending" in page
    assert f"Bank (Non-OAuth) ••••{case.account.last4}" in page
    assert "Account and routing numbers, for payments" in page
    assert "never sees them" in page


def test_landing_says_when_the_payment_number_expires(
    client: stripe.StripeClient, platform: NewPlatform, http: httpx.Client
) -> None:
    expiry = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(days=9)
    case = relink_case(client, platform.owner.email, cause=None, tan_expires_at=expiry)
    page = text_of(HostedPages(http, case.url).open())
    assert (
        f"your account number for payments expires on {expiry:%B} {expiry.day}, {expiry.year}"
        in page
    )


def test_landing_says_the_bank_asked_to_sign_in_again(
    client: stripe.StripeClient, platform: NewPlatform, http: httpx.Client
) -> None:
    case = relink_case(client, platform.owner.email, cause="access_expired")
    assert "your bank asked you to sign in again" in text_of(HostedPages(http, case.url).open())


def test_get_of_a_link_only_marks_it_viewed(
    client: stripe.StripeClient, platform: NewPlatform, http: httpx.Client, runtime: Runtime
) -> None:
    case = relink_case(client, platform.owner.email)
    pages = HostedPages(http, case.url)
    pages.open()
    pages.open()
    assert timeline_kinds(runtime, case.session.id) == ["created", "viewed"]
    assert hosted_flow(runtime, case.session.id) is None
    assert stored_session(runtime, case.session.id).link_last_visit_at is not None
    assert retrieve_session(client, case.session.id).status == "pending"


def test_continue_without_csrf_is_refused(
    client: stripe.StripeClient, platform: NewPlatform, http: httpx.Client, runtime: Runtime
) -> None:
    case = relink_case(client, platform.owner.email)
    refused = http.post(f"{case.url}/continue", data={"csrf_token": "forged"})
    assert refused.status_code == 303
    page = http.get(refused.headers["location"])
    assert (page.status_code, "This form has expired" in text_of(page)) == (403, True)
    assert "opened" not in timeline_kinds(runtime, case.session.id)
    assert hosted_flow(runtime, case.session.id) is None


def test_continue_counts_the_opened_step(
    client: stripe.StripeClient, platform: NewPlatform, http: httpx.Client, runtime: Runtime
) -> None:
    case = relink_case(client, platform.owner.email)
    pages = HostedPages(http, case.url)
    pages.open()
    pages.press_continue()
    assert timeline_kinds(runtime, case.session.id) == ["created", "viewed", "opened"]


def test_oauth_continue_redirects_to_the_bank_with_state_and_pkce(
    client: stripe.StripeClient, platform: NewPlatform, http: httpx.Client, server: RunningServer
) -> None:
    case = relink_case(client, platform.owner.email, institution="bank_oauth")
    pages = HostedPages(http, case.url)
    landing = pages.open()
    assert f"form-action 'self' {server.url}" in landing.headers["content-security-policy"]
    bank = pages.post("continue")
    location = httpx.URL(bank.headers["location"])
    assert str(location).startswith(f"{server.url}/sandbox-bank/oauth/authorize")
    assert location.params["code_challenge_method"] == "S256"
    assert location.params["redirect_uri"] == f"{server.url}/relink/oauth/callback"
    assert case.token not in str(location)


def test_oauth_continue_asks_the_bank_to_speak_the_holders_language(
    client: stripe.StripeClient, platform: NewPlatform, http: httpx.Client
) -> None:
    case = relink_case(
        client, platform.owner.email, institution="bank_oauth", preferred_locales=["nl"]
    )
    pages = HostedPages(http, case.url)
    pages.open()
    location = httpx.URL(pages.post("continue").headers["location"])
    assert location.params["ui_locales"] == "nl"
    bank = http.get(str(location), follow_redirects=True)
    assert '<html lang="nl">' in bank.text
    assert "Inloggen bij Bank (OAuth)" in text_of(bank)


def test_the_language_switchers_choice_goes_to_the_bank(
    client: stripe.StripeClient, platform: NewPlatform, http: httpx.Client
) -> None:
    case = relink_case(
        client, platform.owner.email, institution="bank_oauth", preferred_locales=["de"]
    )
    pages = HostedPages(http, case.url)
    http.get(case.url, params={"lang": "es"})
    location = httpx.URL(pages.post("continue").headers["location"])
    assert location.params["ui_locales"] == "es"


@pytest.mark.parametrize(
    ("locale", "prompt"),
    [
        ("de", "Geben Sie den Einmalcode ein, den wir an Ihr Telefon gesendet haben."),
        ("fr", "Saisissez le code à usage unique que nous avons envoyé sur votre téléphone."),
        ("es", "Introduzca el código de un solo uso que le hemos enviado al teléfono."),
        ("nl", "Voer de eenmalige code in die we naar uw telefoon hebben gestuurd."),
    ],
)
def test_the_banks_challenge_is_shown_in_the_holders_language(
    client: stripe.StripeClient, platform: NewPlatform, http: httpx.Client, locale: str, prompt: str
) -> None:
    case = relink_case(client, platform.owner.email, preferred_locales=[locale])
    pages = HostedPages(http, case.url)
    pages.open()
    pages.press_continue()
    challenge = text_of(pages.sign_in(case.bank_username, "pw-mfa"))
    assert prompt in challenge
    assert "123456" in challenge


def test_a_further_challenge_is_asked_in_the_holders_language(
    client: stripe.StripeClient, platform: NewPlatform, http: httpx.Client
) -> None:
    case = relink_case(client, platform.owner.email, preferred_locales=["de"])
    pages = HostedPages(http, case.url)
    pages.open()
    pages.press_continue()
    pages.sign_in(case.bank_username, "pw-mfa")
    asked = text_of(pages.answer("security_question"))
    assert "Wie hieß Ihr erstes Haustier?" in asked


def test_unknown_link_is_not_found(http: httpx.Client, server: RunningServer) -> None:
    page = http.get(f"{server.url}/relink/{'A' * 43}")
    assert page.status_code == 404
    assert "This link is not valid" in text_of(page)


def test_callback_with_an_unknown_state_is_not_found(
    http: httpx.Client, server: RunningServer
) -> None:
    page = http.get(f"{server.url}/relink/oauth/callback", params={"state": "x", "code": "y"})
    assert page.status_code == 404


def test_pages_send_strict_security_headers(
    client: stripe.StripeClient, platform: NewPlatform, http: httpx.Client
) -> None:
    case = relink_case(client, platform.owner.email)
    headers = HostedPages(http, case.url).open().headers
    assert "default-src 'self'" in headers["content-security-policy"]
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert headers["x-frame-options"] == "DENY"
    assert headers["cache-control"] == "no-store"
    assert headers["referrer-policy"] == "no-referrer"


def test_holder_name_markup_is_escaped(
    client: stripe.StripeClient, platform: NewPlatform, http: httpx.Client
) -> None:
    case = relink_case(client, platform.owner.email, customer_name="<script>alert(1)</script>")
    html = HostedPages(http, case.url).open().text
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_landing_repeats_the_platforms_support_email_and_website(
    client: stripe.StripeClient, platform: NewPlatform, http: httpx.Client, runtime: Runtime
) -> None:
    set_support_contact(runtime, platform, "help@acme.example", "https://www.acme.example/help/")
    case = relink_case(client, platform.owner.email)
    page = HostedPages(http, case.url).open()
    assert (
        "Questions about this request? Contact Acme Lending at help@acme.example"
        " or visit acme.example/help" in text_of(page)
    )
    assert '<a href="mailto:help@acme.example">help@acme.example</a>' in page.text
    assert '<a href="https://www.acme.example/help/" rel="noopener noreferrer">' in page.text


def test_landing_leaves_out_support_details_the_platform_has_not_set(
    client: stripe.StripeClient, platform: NewPlatform, http: httpx.Client, runtime: Runtime
) -> None:
    case = relink_case(client, platform.owner.email)
    pages = HostedPages(http, case.url)
    assert "Questions about this request" not in text_of(pages.open())
    set_support_contact(runtime, platform, None, "https://acme.example")
    only_site = text_of(pages.open())
    assert "Questions about this request? Visit Acme Lending at acme.example" in only_site
    set_support_contact(runtime, platform, "help@acme.example", None)
    only_email = pages.open()
    assert "Questions about this request? Contact Acme Lending at help@acme.example" in text_of(
        only_email
    )
    assert "visit" not in text_of(only_email)


def test_landing_shows_no_website_that_is_not_an_http_address(
    client: stripe.StripeClient, platform: NewPlatform, http: httpx.Client, runtime: Runtime
) -> None:
    set_support_contact(runtime, platform, None, "javascript:alert(1)//https://acme.example")
    case = relink_case(client, platform.owner.email)
    page = HostedPages(http, case.url).open()
    assert "javascript:" not in page.text
    assert "Questions about this request" not in text_of(page)


def test_landing_escapes_the_platforms_support_details(
    client: stripe.StripeClient, platform: NewPlatform, http: httpx.Client, runtime: Runtime
) -> None:
    with runtime.database.unit_of_work() as db:
        row = db.get(Platform, platform.platform.id)
        assert row is not None
        row.name = "<b>Acme</b>"
        row.website_url = 'https://acme.example/"><script>alert(1)</script>'
    case = relink_case(client, platform.owner.email)
    html = HostedPages(http, case.url).open().text
    assert "<script>alert(1)</script>" not in html
    assert "<b>Acme</b>" not in html
    assert 'href="https://acme.example/&#34;&gt;&lt;script&gt;alert(1)&lt;/script&gt;"' in html


def test_the_german_landing_repeats_the_support_contact_in_german(
    client: stripe.StripeClient, platform: NewPlatform, http: httpx.Client, runtime: Runtime
) -> None:
    set_support_contact(runtime, platform, "help@acme.example", "https://acme.example")
    case = relink_case(client, platform.owner.email, preferred_locales=["de"])
    assert (
        "Fragen zu dieser Anfrage? Wenden Sie sich an Acme Lending unter help@acme.example"
        " oder besuchen Sie acme.example" in text_of(HostedPages(http, case.url).open())
    )


def test_accept_language_german_renders_german(
    client: stripe.StripeClient, platform: NewPlatform, http: httpx.Client
) -> None:
    case = relink_case(client, platform.owner.email)
    page = HostedPages(http, case.url).open(**{"Accept-Language": "de-DE,de;q=0.9"})
    assert '<html lang="de">' in page.text
    assert "Bankkonto erneut verbinden" in text_of(page)
    assert "Weiter" in text_of(page)


def test_preferred_locales_win_over_accept_language(
    client: stripe.StripeClient, platform: NewPlatform, http: httpx.Client
) -> None:
    case = relink_case(client, platform.owner.email, preferred_locales=["de"])
    page = HostedPages(http, case.url).open(**{"Accept-Language": "en-US"})
    assert '<html lang="de">' in page.text


def test_language_switch_is_remembered_for_the_link(
    client: stripe.StripeClient, platform: NewPlatform, http: httpx.Client
) -> None:
    case = relink_case(client, platform.owner.email, preferred_locales=["de"])
    switched = http.get(case.url, params={"lang": "en"})
    assert '<html lang="en">' in switched.text
    again = HostedPages(http, case.url).open()
    assert '<html lang="en">' in again.text
    assert 'hreflang="de"' in again.text


def test_german_credentials_page_and_error(
    client: stripe.StripeClient, platform: NewPlatform, http: httpx.Client
) -> None:
    case = relink_case(client, platform.owner.email, preferred_locales=["de"])
    pages = HostedPages(http, case.url)
    pages.open()
    assert "Bei Bank (Non-OAuth) anmelden" in text_of(pages.press_continue())
    refused = pages.sign_in(case.bank_username, "pw-incorrect")
    assert "Benutzername und Passwort" in text_of(refused)


def test_brand_colour_is_served_as_a_stylesheet_readable_on_buttons(
    client: stripe.StripeClient, platform: NewPlatform, http: httpx.Client, runtime: Runtime
) -> None:
    with runtime.database.unit_of_work() as db:
        row = db.get(Platform, platform.platform.id)
        assert row is not None
        row.brand_color = "#ffd700"
    case = relink_case(client, platform.owner.email)
    css = http.get(f"{case.url}/brand.css")
    assert css.headers["content-type"].startswith("text/css")
    assert "--brand: #ffd700; --brand-text: #111111;" in css.text


def test_logo_is_served_only_when_set(
    client: stripe.StripeClient, platform: NewPlatform, http: httpx.Client, runtime: Runtime
) -> None:
    case = relink_case(client, platform.owner.email)
    assert http.get(f"{case.url}/logo").status_code == 404
    assert 'src="/relink/' not in HostedPages(http, case.url).open().text
    with runtime.database.unit_of_work() as db:
        row = db.get(Platform, platform.platform.id)
        assert row is not None
        row.logo_png = PNG
    logo = http.get(f"{case.url}/logo")
    assert (logo.status_code, logo.content, logo.headers["content-type"]) == (200, PNG, "image/png")
    assert (
        f'src="/relink/{case.token}/logo" alt="Acme Lending"'
        in HostedPages(http, case.url).open().text
    )


@pytest.fixture
def strict_throttle(runtime: Runtime) -> Iterator[HostedThrottle]:
    previous = runtime.extras.get(THROTTLE_KEY)
    throttle = HostedThrottle(
        per_token=SlidingWindowThrottle(limit=3, window=60.0),
        per_ip=SlidingWindowThrottle(limit=1000, window=60.0),
    )
    runtime.extras[THROTTLE_KEY] = throttle
    yield throttle
    runtime.extras[THROTTLE_KEY] = previous


def test_a_link_hit_too_often_is_throttled(
    client: stripe.StripeClient,
    platform: NewPlatform,
    http: httpx.Client,
    strict_throttle: HostedThrottle,
) -> None:
    case = relink_case(client, platform.owner.email)
    statuses = [http.get(case.url).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]


def test_a_throttled_form_answers_with_a_redirect_to_its_page_which_says_so(
    client: stripe.StripeClient,
    platform: NewPlatform,
    http: httpx.Client,
    runtime: Runtime,
    strict_throttle: HostedThrottle,
) -> None:
    case = relink_case(client, platform.owner.email)
    pages = HostedPages(http, case.url)
    pages.open()
    pages.post("continue")
    pages.post("continue")  # the third hit of three
    answer = pages.post("continue")
    assert (answer.status_code, answer.headers["location"]) == (303, case.url)
    assert answer.headers["retry-after"] == "60"
    page = http.get(case.url)
    assert (page.status_code, "Too many requests" in text_of(page)) == (429, True)


def test_one_ip_guessing_many_links_is_throttled(
    http: httpx.Client, server: RunningServer, runtime: Runtime
) -> None:
    previous = runtime.extras.get(THROTTLE_KEY)
    runtime.extras[THROTTLE_KEY] = HostedThrottle(
        per_ip=SlidingWindowThrottle(limit=2, window=60.0)
    )
    try:
        guesses = [f"{server.url}/relink/{letter * 43}" for letter in "ABC"]
        statuses = [http.get(url).status_code for url in guesses]
    finally:
        runtime.extras[THROTTLE_KEY] = previous
    assert statuses == [404, 404, 429]


# -- OAuth bound to the browser that pressed Continue ----------------------------------------


def _oauth_cookie(response: httpx.Response) -> str:
    [cookie] = [c for c in response.headers.get_list("set-cookie") if c.startswith("relink_oauth_")]
    return cookie


def test_continue_to_an_oauth_bank_binds_the_flow_to_this_browser(
    client: stripe.StripeClient, platform: NewPlatform, http: httpx.Client
) -> None:
    case = relink_case(client, platform.owner.email, institution="bank_oauth")
    pages = HostedPages(http, case.url)
    pages.open()
    cookie = _oauth_cookie(pages.post("continue")).lower()
    assert "httponly" in cookie
    assert "samesite=lax" in cookie
    assert "path=/relink/oauth/callback" in cookie
    assert "secure" not in cookie  # the test server's public URL is http


def test_the_oauth_binding_cookie_is_secure_when_the_public_url_is_https(
    client: stripe.StripeClient, platform: NewPlatform, settings: Settings
) -> None:
    case = relink_case(client, platform.owner.email, institution="bank_oauth")
    port = free_port()
    runtime = runtime_with(settings, public_url=f"https://127.0.0.1:{port}")
    uvicorn_server, thread, url = start_server(create_app(runtime=runtime), port)
    try:
        with httpx.Client(timeout=15.0) as http:
            pages = HostedPages(http, url + case.url.removeprefix(settings.public_url))
            pages.open()
            cookie = _oauth_cookie(pages.post("continue")).lower()
    finally:
        uvicorn_server.should_exit = True
        thread.join(timeout=10)
        runtime.database.engine.dispose()
    assert "; secure" in cookie and "httponly" in cookie and "samesite=lax" in cookie


def test_a_callback_in_another_browser_is_refused_and_the_flow_keeps_waiting(
    client: stripe.StripeClient, platform: NewPlatform, http: httpx.Client, runtime: Runtime
) -> None:
    case = relink_case(client, platform.owner.email, institution="bank_oauth")
    holder = HostedPages(http, case.url)
    holder.open()
    to_bank = holder.post("continue")
    with httpx.Client(timeout=15.0) as other_browser:
        back = authorize_in_bank(
            other_browser, to_bank.headers["location"], username="someone-else", password="pw"
        )
        refused = other_browser.get(urljoin(case.url, back))
    assert refused.status_code == 403
    assert "Finish in the browser you started in" in text_of(refused)
    flow = hosted_flow(runtime, case.session.id)
    assert flow is not None and (flow.step, flow.oauth_state_digest is not None) == ("oauth", True)
    assert retrieve_session(client, case.session.id).status == "pending"
    # The holder's own browser then finishes the same flow.
    done = holder.through_bank(to_bank, username=case.bank_username)
    assert "Your account is reconnected" in text_of(done)


def test_a_holders_state_replayed_with_another_code_fails_nothing(
    client: stripe.StripeClient, platform: NewPlatform, http: httpx.Client, runtime: Runtime
) -> None:
    case = relink_case(client, platform.owner.email, institution="bank_oauth")
    holder = HostedPages(http, case.url)
    holder.open()
    to_bank = holder.post("continue")
    state = httpx.URL(to_bank.headers["location"]).params["state"]
    with httpx.Client(timeout=15.0) as attacker:
        for query in ({"code": "the-attackers-code"}, {"error": "server_error"}):
            page = attacker.get(
                f"{runtime.settings.public_url}/relink/oauth/callback",
                params={"state": state, **query},
            )
            assert page.status_code == 403
    assert retrieve_session(client, case.session.id).status == "pending"
    done = holder.through_bank(to_bank, username=case.bank_username)
    assert "Your account is reconnected" in text_of(done)


def _first_field(page: httpx.Response) -> str:
    """The first input a holder types into (hidden fields aside)."""
    fields = re.findall(r"<input(?![^>]*type=\"hidden\")[^>]*>", page.text)
    assert fields, page.text[:300]
    return str(fields[0])


def test_the_sign_in_and_code_pages_focus_their_first_field_without_javascript(
    client: stripe.StripeClient, platform: NewPlatform, http: httpx.Client
) -> None:
    case = relink_case(client, platform.owner.email)
    pages = HostedPages(http, case.url)
    pages.open()
    sign_in = _first_field(pages.press_continue())
    code = _first_field(pages.sign_in(case.bank_username, "pw-mfa"))
    assert 'id="username"' in sign_in and " autofocus" in sign_in
    assert 'id="answer"' in code and " autofocus" in code
