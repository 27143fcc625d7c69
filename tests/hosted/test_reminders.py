"""``/reminders/<token>``: the one-click unsubscribe (RFC 8058) and the holder's page.

The one-click POST needs no cookie and no CSRF token, records the opt-out and changes
nothing else; a GET changes nothing; the page's button (its CSRF token) opts out and
answers 303; a token Relink did not make for this holder, scope and mode is a 404.
"""

from __future__ import annotations

import base64
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import httpx
import stripe

from relink.hosted.branding import PNG_SIGNATURE
from relink.models import OutboxMessage, Platform
from relink.platforms.service import NewPlatform
from relink.runtime import Runtime
from tests.conftest import make_platform
from tests.email.opt_out_factories import opt_outs, opt_outs_of, reminders_url
from tests.factories import create_customer, timeline_kinds
from tests.hosted.factories import relink_case, retrieve_session
from tests.hosted.pages import CSRF, HostedPages, text_of

ONE_CLICK = {"List-Unsubscribe": "One-Click"}


def _outbox_count(runtime: Runtime) -> int:
    with runtime.database.read_only() as db:
        return db.query(OutboxMessage).count()


def test_a_one_click_post_without_cookies_opts_out_and_changes_nothing_else(
    client: stripe.StripeClient, platform: NewPlatform, runtime: Runtime
) -> None:
    case = relink_case(client, platform.owner.email, delivery_method="email")
    url = reminders_url(runtime, platform.platform.id, case.customer.id)
    kinds_before, outbox_before = timeline_kinds(runtime, case.session.id), _outbox_count(runtime)

    # A mail client's own button: a bare POST, no cookie jar, no CSRF token.
    answer = httpx.post(url, data=ONE_CLICK, timeout=15)

    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    assert answer.text == "You will not get reminder emails from Acme Lending any more.\n"
    [row] = opt_outs_of(runtime, case.customer.id)
    assert (row.platform_id, row.livemode, row.source) == (platform.platform.id, False, "one_click")
    assert row.cleared_at is None
    # Nothing else: the request is still pending, its timeline and the outbox untouched,
    # the holder's details as they were.
    assert retrieve_session(client, case.session.id)["status"] == "pending"
    assert timeline_kinds(runtime, case.session.id) == kinds_before
    assert _outbox_count(runtime) == outbox_before
    holder = client.v1.customers.retrieve(case.customer.id)
    assert (holder.email, holder.name) == (platform.owner.email, "Ada Lovelace")


def test_the_one_click_answer_speaks_the_holders_language(
    client: stripe.StripeClient, platform: NewPlatform, runtime: Runtime
) -> None:
    customer = create_customer(client, email=platform.owner.email, preferred_locales=["de"])
    answer = httpx.post(
        reminders_url(runtime, platform.platform.id, customer.id), data=ONE_CLICK, timeout=15
    )
    assert answer.status_code == 200
    assert answer.headers["content-language"] == "de"
    assert answer.text == "Sie erhalten von Acme Lending keine Erinnerungs-E-Mails mehr.\n"


def test_a_post_without_the_one_click_body_is_refused_and_records_nothing(
    client: stripe.StripeClient, platform: NewPlatform, runtime: Runtime
) -> None:
    customer = create_customer(client, email=platform.owner.email)
    url = reminders_url(runtime, platform.platform.id, customer.id)
    for body in ({}, {"List-Unsubscribe": "yes"}):
        answer = httpx.post(url, data=body, timeout=15)
        assert answer.status_code == 400
        assert "List-Unsubscribe=One-Click" in answer.text
    assert opt_outs_of(runtime, customer.id) == []


def test_clicking_twice_at_once_records_one_opt_out(
    client: stripe.StripeClient, platform: NewPlatform, runtime: Runtime
) -> None:
    customer = create_customer(client, email=platform.owner.email)
    url = reminders_url(runtime, platform.platform.id, customer.id)
    with ThreadPoolExecutor(max_workers=6) as pool:
        answers = list(pool.map(lambda _: httpx.post(url, data=ONE_CLICK, timeout=15), range(6)))
    assert [a.status_code for a in answers] == [200] * 6
    assert len(opt_outs_of(runtime, customer.id)) == 1


def _tampered(url: str) -> str:
    base, token = url.rsplit("/", 1)
    sealed = bytearray(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    sealed[-1] ^= 1
    return f"{base}/{base64.urlsafe_b64encode(bytes(sealed)).rstrip(b'=').decode()}"


def test_a_tampered_or_foreign_token_is_not_found_and_changes_nothing(
    client: stripe.StripeClient, platform: NewPlatform, runtime: Runtime
) -> None:
    customer = create_customer(client, email=platform.owner.email)
    with runtime.database.unit_of_work() as db:
        other = make_platform(db, name="Other Platform")
    genuine = reminders_url(runtime, platform.platform.id, customer.id)
    before = len(opt_outs(runtime))
    refused = [
        _tampered(genuine),
        genuine.rsplit("/", 1)[0] + "/" + "A" * 110,
        genuine.rsplit("/", 1)[0] + "/not-base64!",
        # Genuine tokens, but naming the holder in another platform or the other mode.
        reminders_url(runtime, other.platform.id, customer.id),
        reminders_url(runtime, platform.platform.id, customer.id, livemode=True),
        # A holder id of no such holder.
        reminders_url(runtime, platform.platform.id, "cus_" + "0" * 26),
    ]
    for url in refused:
        assert httpx.post(url, data=ONE_CLICK, timeout=15).status_code == 404, url
        assert httpx.get(url, timeout=15).status_code == 404, url
        stopped = httpx.post(f"{url}/stop", data={"csrf_token": "x"}, timeout=15)
        assert stopped.status_code == 303
        assert httpx.get(stopped.headers["location"], timeout=15).status_code == 404
    assert len(opt_outs(runtime)) == before


def test_opening_the_page_changes_nothing_and_its_button_opts_out(
    client: stripe.StripeClient, platform: NewPlatform, runtime: Runtime, http: httpx.Client
) -> None:
    customer = create_customer(client, email=platform.owner.email, name="Ada Lovelace")
    url = reminders_url(runtime, platform.platform.id, customer.id)
    for _ in range(3):  # a scanner following the link, then the holder
        page = http.get(url)
        assert page.status_code == 200
        assert "Hello Ada Lovelace," in text_of(page)
    assert opt_outs_of(runtime, customer.id) == []
    found = CSRF.search(page.text)
    assert found is not None

    stopped = http.post(f"{url}/stop", data={"csrf_token": found.group(1), "lang": "en"})

    assert stopped.status_code == 303
    assert stopped.headers["location"] == f"{url}?lang=en"
    [row] = opt_outs_of(runtime, customer.id)
    assert row.source == "hosted_page"
    done = http.get(url)
    assert "You will not get reminders" in text_of(done)
    assert "You stopped reminders on" in text_of(done)
    assert 'action="' not in done.text.split("<main", 1)[1].split("</main>", 1)[0]


def test_the_pages_button_without_its_csrf_token_changes_nothing(
    client: stripe.StripeClient, platform: NewPlatform, runtime: Runtime, http: httpx.Client
) -> None:
    customer = create_customer(client, email=platform.owner.email)
    url = reminders_url(runtime, platform.platform.id, customer.id)
    for fields in ({}, {"csrf_token": "0" * 64}):
        refused = http.post(f"{url}/stop", data=fields)
        assert refused.status_code == 303
        assert refused.headers["location"] == f"{url}?refused=1"
        again = http.get(refused.headers["location"])
        assert again.status_code == 200
        assert "This page had expired, so nothing was changed." in text_of(again)
    assert opt_outs_of(runtime, customer.id) == []


def test_the_page_speaks_the_holders_language_and_wears_the_platforms_brand(
    client: stripe.StripeClient, platform: NewPlatform, runtime: Runtime, http: httpx.Client
) -> None:
    customer = create_customer(client, email=platform.owner.email, preferred_locales=["fr"])
    url = reminders_url(runtime, platform.platform.id, customer.id)
    page = http.get(url)
    assert page.headers["content-language"] == "fr"
    assert "Ne plus recevoir d'e-mails de rappel" in text_of(page)
    path = urlsplit(url).path
    assert f'href="{path}/brand.css"' in page.text
    css = http.get(f"{url}/brand.css")
    assert css.status_code == 200 and "--brand:" in css.text
    assert http.get(f"{url}/logo").status_code == 404  # the platform has no logo yet
    with runtime.database.unit_of_work() as db:
        row = db.get(Platform, platform.platform.id)
        assert row is not None
        row.brand_color, row.logo_png = "#0b6e4f", PNG_SIGNATURE + b"logo"
    assert "--brand: #0b6e4f;" in http.get(f"{url}/brand.css").text
    assert f'src="{path}/logo"' in http.get(url).text
    logo = http.get(f"{url}/logo")
    assert (logo.status_code, logo.content) == (200, PNG_SIGNATURE + b"logo")
    assert http.get(f"{_tampered(url)}/logo").status_code == 404


def test_the_relink_landing_page_links_to_the_holders_reminders_page(
    client: stripe.StripeClient, platform: NewPlatform, runtime: Runtime, http: httpx.Client
) -> None:
    case = relink_case(client, platform.owner.email, delivery_method="email")
    landing = HostedPages(http, case.url).open()
    path = urlsplit(reminders_url(runtime, platform.platform.id, case.customer.id)).path
    assert f'<a href="{path}">Stop reminder emails</a>' in landing.text


def test_only_the_landing_page_carries_the_link(
    client: stripe.StripeClient, platform: NewPlatform, http: httpx.Client
) -> None:
    case = relink_case(client, platform.owner.email, delivery_method="email")
    page = HostedPages(http, case.url).press_continue()
    assert "Stop reminder emails" not in page.text
